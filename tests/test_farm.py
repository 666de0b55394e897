"""Acceptance at scale, through the real commands: a loopback farm of 200 sources x 30 entries
for `newsdesk fetch --all`, and a `newsdesk worker` killed with SIGKILL in the middle of a pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from app.config import Settings
from app.keystore import load_keyring
from app.secured import read_private
from app.store.db import Database
from app.store.models import RecordRow
from app.store.repository import IngestRepository, RecordRepository, content_hash
from tests.conftest import ROOT, TEST_CONFIG
from tests.feedserver import FARM_TOPICS, FeedServer, Reply, Request, farm_route

pytestmark = pytest.mark.slow
NEWSDESK = [sys.executable, "-c", "from app.cli import run; run()"]


def write_feeds(folder: Path, urls: list[str]) -> Path:
    folder.mkdir()
    for name in ("topics.yaml", "providers.yaml"):
        (folder / name).write_text((TEST_CONFIG / name).read_text(encoding="utf-8"),
                                   encoding="utf-8")
    (folder / "sources.yaml").write_text("sources:\n" + "".join(
        f"  - {{name: farm-{i}, url: '{url}'}}\n" for i, url in enumerate(urls)), encoding="utf-8")
    return folder


def env_for(tmp_path: Path, db_url: str, feeds: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSDESK_")}
    env.update(NEWSDESK_DATA_DIR=str(tmp_path / "var"), NEWSDESK_DATABASE_URL=db_url,
               NEWSDESK_FEEDS=str(feeds), NEWSDESK_ALLOW_PRIVATE_NETWORKS="1",
               NEWSDESK_LOG_LEVEL="WARNING",
               PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))))
    env.update(extra)           # a caller's settings win over these defaults
    return env


def newsdesk(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEWSDESK, *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc; empty elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def expected_topics(title: str) -> tuple[str, ...]:
    return next(topics for prefix, topics in FARM_TOPICS if title.startswith(prefix))


def test_a_farm_of_200_sources_is_stored_once_and_then_not_modified(
        tmp_path: Path, db_url: str) -> None:
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(30)
        feeds = write_feeds(tmp_path / "feeds",
                            [server.url(f"/farm/{i}.xml") for i in range(200)])
        # The farm is about storing once and 304s, not slow servers: on a loaded 2-core CI
        # machine under faketime one of 200 loopback fetches outwaited the default 10 s.
        env = env_for(tmp_path, db_url, feeds, NEWSDESK_FETCH_TIMEOUT="60")
        first = newsdesk(env, "fetch", "--all")
        assert first.returncode == 0, first.stderr
        assert first.stdout.strip().splitlines()[-1] == (
            "sources: 200 fetched, 0 not modified, 0 failed; records: 6000 new, 0 updated"
        ), first.stderr
        second = newsdesk(env, "fetch", "--all")
        assert second.returncode == 0, second.stderr
        assert second.stdout.strip().splitlines()[-1] == (
            "sources: 0 fetched, 200 not modified, 0 failed; records: 0 new, 0 updated")
        third = newsdesk(env, "fetch")        # nothing is due yet
        assert third.stdout.strip().splitlines()[-1].startswith("sources: 0 fetched, 0 not")

    db = Database(db_url)
    try:
        with db.session() as session:
            records = list(RecordRepository(session).iter_all())
            states = IngestRepository(session).states()
        assert len(records) == 6000
        assert len({r.web_url for r in records}) == 6000
        assert all("utm_source" not in r.web_url for r in records)
        assert all(r.topics == expected_topics(r.title) for r in records)
        assert Counter(s.last_status for s in states) == {"304": 200}
        assert all(s.etag and s.error_count == 0 and s.lease_owner is None for s in states)
        # Records were sealed and hashed in the parsing processes: every one keeps its
        # sighting, and the stored hash is that of the record as stored.
        keyring = load_keyring(db, Settings.from_env(env), now=datetime.now(UTC))
        sightings = {(p["source"], p["entryId"]) for p in (
            read_private(r, keyring) or {} for r in records)}
        assert len(sightings) == 6000
        assert all(source.startswith("farm-") for source, _ in sightings)
        with db.session() as session:
            stored = session.execute(select(RecordRow.id, RecordRow.content_hash)).all()
        assert dict(stored) == {r.id: content_hash(r) for r in records}
    finally:
        db.dispose()


def test_kill_9_in_the_middle_of_a_pass_loses_nothing_committed(tmp_path: Path,
                                                                 db_url: str) -> None:
    sources, entries = 80, 30
    farm = farm_route(entries)

    def slow(request: Request) -> Reply:
        time.sleep(0.25)
        return farm(request)

    with FeedServer() as server:
        server.prefixes["/farm/"] = slow
        feeds = write_feeds(tmp_path / "feeds",
                            [server.url(f"/farm/{i}.xml") for i in range(sources)])
        env = env_for(tmp_path, db_url, feeds, NEWSDESK_FETCH_WORKERS="4")
        db = Database(db_url)
        try:
            worker = subprocess.Popen([*NEWSDESK, "worker", "--tick", "1"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 120
            stored = 0
            while time.monotonic() < deadline and stored == 0:
                time.sleep(0.2)
                try:
                    with db.session() as session:
                        stored = RecordRepository(session).count()
                except Exception:  # noqa: BLE001 - the worker may still be migrating
                    stored = 0
            parsers = children_of(worker.pid)
            assert parsers, "the worker parses in processes of its own"
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            assert stored > 0
            # its parsing processes do not outlive it
            deadline = time.monotonic() + 10
            while any(alive(pid) for pid in parsers) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not [pid for pid in parsers if alive(pid)]

            with db.session() as session:
                records = list(RecordRepository(session).iter_all())
                states = {s.name: s for s in IngestRepository(session).states()}
            done = {n for n, s in states.items() if s.last_status == "200"}
            assert 0 < len(done) < sources, "the kill must land in the middle of the pass"
            # every committed source has all its entries, whole; no other source has any
            per_source = Counter(r.web_url.split("/")[3] for r in records)
            assert per_source == {f"s{n.split('-')[1]}": entries for n in done}
            assert all(r.topics == expected_topics(r.title) and r.excerpt for r in records)

            rest = newsdesk(env, "fetch")
            assert rest.returncode == 0, rest.stderr
            line = rest.stdout.strip().splitlines()[-1]
            assert line.startswith(
                f"sources: {sources - len(done)} fetched, 0 not modified, 0 failed; "
                f"records: {(sources - len(done)) * entries} new, 0 updated")
            assert not done or f"; {len(done)} not due yet, the next at " in line
            with db.session() as session:
                assert RecordRepository(session).count() == sources * entries
                assert all(s.last_status == "200" and s.lease_owner is None
                           for s in IngestRepository(session).states())
        finally:
            db.dispose()
