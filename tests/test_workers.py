"""Several `newsdesk` processes on one database (issue 16), on SQLite and PostgreSQL: three
`newsdesk fetch` started together on a fresh database; SIGTERM obeyed at once; a worker killed
with SIGKILL has its sources taken over; and /healthz and /metrics show it all."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.store.db import Database
from app.store.repository import IngestRepository, RecordRepository
from app.store.workers import WorkerRepository
from app.web import build_app
from tests.conftest import ROOT
from tests.feedserver import FeedServer, Reply, Request, farm_route
from tests.test_farm import NEWSDESK, write_feeds
from tests.test_farm import env_for as farm_env

BOUND = 60.0     # seconds a condition may take on a busy machine before the test fails


def env_for(tmp_path: Path, db_url: str, feeds: Path, **extra: str) -> dict[str, str]:
    env = farm_env(tmp_path, db_url, feeds)
    env.update(extra)
    return env


def until(condition: Callable[[], object], what: str, bound: float = BOUND) -> None:
    end = time.monotonic() + bound
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"not within {bound:.0f} s: {what}")
        time.sleep(0.2)


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*NEWSDESK, *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(sig)
    _, err = process.communicate(timeout=BOUND)
    return process.returncode, err


def states(db_url: str) -> dict[str, tuple[str | None, str | None]]:
    db = Database(db_url, migrate=False)
    try:
        with db.session() as session:
            return {s.name: (s.last_status, s.lease_owner)
                    for s in IngestRepository(session).states()}
    finally:
        db.dispose()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.prefixes["/farm/"] = farm_route(3)
        yield srv


def test_three_fetches_at_once_on_a_fresh_database_fetch_each_source_once(
        db_url: str, tmp_path: Path, server: FeedServer) -> None:
    feeds = write_feeds(tmp_path / "feeds", [server.url(f"/farm/{i}.xml") for i in range(20)])
    env = env_for(tmp_path, db_url, feeds, NEWSDESK_PARSE_PROCESSES="1",
                  NEWSDESK_FETCH_WORKERS="4")
    runs = [start(env, "fetch") for _ in range(3)]
    results = [stop(p, 0) for p in runs]
    assert [code for code, _ in results] == [0, 0, 0], [err for _, err in results]
    hits = Counter(server.hits)
    assert len(hits) == 20 and max(hits.values()) == 1, hits.most_common(3)
    assert all(status == "200" and owner is None for status, owner in states(db_url).values())
    assert not any("Traceback" in err for _, err in results)
    db = Database(db_url)                # every served entry stored once: 20 feeds x 3 entries
    try:
        with db.session() as session:
            urls = [r.web_url for r in RecordRepository(session).iter_all()]
    finally:
        db.dispose()
    assert len(urls) == 60 and len(set(urls)) == 60


def test_sigterm_stops_a_worker_at_once_idle_or_mid_fetch(
        db_url: str, tmp_path: Path, server: FeedServer) -> None:
    started = threading.Event()

    def never_ends(_request: Request) -> Reply:
        started.set()
        time.sleep(30)
        return Reply(200, b"")

    server.add("/slow.xml", never_ends)
    feeds = write_feeds(tmp_path / "feeds", [server.url("/farm/0.xml")])
    env = env_for(tmp_path, db_url, feeds, NEWSDESK_LOG_LEVEL="INFO")
    idle = start(env, "worker", "--tick", "0.5")
    until(lambda: server.hits, "the first pass")
    code, err = stop(idle)                      # bounded by BOUND; bench/workers.py times it
    assert code == 0 and "worker stopped" in err and "Traceback" not in err
    assert states(db_url)["farm-0"][1] is None

    feeds2 = write_feeds(tmp_path / "feeds2", [server.url("/slow.xml")])
    env2 = env_for(tmp_path, db_url, feeds2, NEWSDESK_LOG_LEVEL="INFO",
                   NEWSDESK_FETCH_DEADLINE="60", NEWSDESK_FETCH_TIMEOUT="60")
    busy = start(env2, "worker", "--tick", "0.5")
    until(started.is_set, "the slow fetch")
    t0 = time.monotonic()
    code, err = stop(busy)
    assert code == 0 and time.monotonic() - t0 < 15, err     # not the 30 s of the fetch
    assert "Traceback" not in err


def test_the_sources_of_a_killed_worker_are_taken_over(
        db_url: str, tmp_path: Path, server: FeedServer) -> None:
    stuck = threading.Event()
    release = threading.Event()

    def hold(request: Request) -> Reply:
        if not stuck.is_set():
            stuck.set()
            release.wait(30)             # the first worker dies while fetching this
        return farm_route(3)(request)

    server.prefixes["/held/"] = hold
    feeds = write_feeds(tmp_path / "feeds", [server.url("/held/0.xml")])
    env = env_for(tmp_path, db_url, feeds, NEWSDESK_LOG_LEVEL="INFO",
                  NEWSDESK_LEASE_TIMEOUT="3", NEWSDESK_PARSE_PROCESSES="1")
    first = start(env, "worker", "--tick", "0.5")
    until(stuck.is_set, "the first worker's fetch")
    owner = states(db_url)["farm-0"][1]
    assert owner and f":{first.pid}:" in owner
    first.kill()
    first.communicate(timeout=BOUND)
    second = start(env, "worker", "--tick", "0.5")
    try:
        until(lambda: states(db_url)["farm-0"][0] == "200", "the takeover")
    finally:
        release.set()
        _, err = stop(second)
    assert f"farm-0: taken over from worker {owner}" in err
    assert "Traceback" not in err


def test_healthz_and_metrics_follow_the_workers(db_url: str, tmp_path: Path,
                                                server: FeedServer) -> None:
    feeds = write_feeds(tmp_path / "feeds", [server.url(f"/farm/{i}.xml") for i in range(3)])
    env = env_for(tmp_path, db_url, feeds, NEWSDESK_FETCH_INTERVAL="1",
                  NEWSDESK_PARSE_PROCESSES="1")
    db = Database(db_url)
    settings = Settings.from_env({}, data_dir=tmp_path / "var", database_url=db_url,
                                 health_max_pass_age=3)
    client = build_app(settings, db).test_client()

    def health() -> int:
        return client.get("/healthz").status_code

    try:
        assert health() == 503                           # no worker yet
        worker = start(env, "worker", "--tick", "0.5")
        until(lambda: health() == 200, "a worker's pass on /healthz")
        body = client.get("/healthz").get_json()
        assert [w["pid"] for w in body["workers"]] == [worker.pid]
        assert body["workers"][0]["heartbeat_age_seconds"] < 60
        metrics = {s.name: s.value for family in text_string_to_metric_families(
            client.get("/metrics").get_data(as_text=True)) for s in family.samples
            if not s.labels}
        assert metrics["newsdesk_workers_alive"] == 1
        assert metrics["newsdesk_passes_total"] >= 1
        assert stop(worker)[0] == 0
        until(lambda: health() == 503, "/healthz after the worker stopped")
        with db.session() as session:
            assert WorkerRepository(session).workers()[0].stopped
        again = start(env, "worker", "--tick", "0.5")
        until(lambda: health() == 200, "/healthz when a worker passes again")
        assert stop(again)[0] == 0
    finally:
        db.dispose()
