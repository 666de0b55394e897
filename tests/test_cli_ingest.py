"""`newsdesk fetch` and `newsdesk worker` as a user runs them."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from app.store.db import Database
from app.store.repository import RecordRepository
from tests.feedserver import FeedServer, Reply, Request, farm_route
from tests.test_farm import NEWSDESK, ROOT, env_for, newsdesk, write_feeds


def test_worker_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'nd.db'}"
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(5)
        feeds = write_feeds(tmp_path / "feeds", [server.url(f"/farm/{i}.xml") for i in range(3)])
        env = env_for(tmp_path, db_url, feeds)
        env["NEWSDESK_LOG_LEVEL"] = "INFO"
        worker = subprocess.Popen([*NEWSDESK, "worker", "--tick", "1"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            db = Database(db_url)
            deadline = time.monotonic() + 60
            count = 0
            while count < 15 and time.monotonic() < deadline:
                time.sleep(0.2)
                try:
                    with db.session() as session:
                        count = RecordRepository(session).count()
                except Exception:  # noqa: BLE001 - not migrated yet
                    count = 0
            db.dispose()
            assert count == 15
            worker.send_signal(signal.SIGTERM)
            _, err = worker.communicate(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert worker.returncode == 0, err
    assert "sources: 3 fetched" in err and "worker stopped" in err


def test_fetch_names_an_unknown_source_and_a_broken_feeds_file(tmp_path: Path) -> None:
    feeds = write_feeds(tmp_path / "feeds", ["https://a.example/feed"])
    env = env_for(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}", feeds)
    result = newsdesk(env, "fetch", "--source", "nope")
    assert result.returncode != 0 and "no source named 'nope'" in result.stderr
    (feeds / "sources.yaml").write_text("sources:\n  - name: x\n", encoding="utf-8")
    result = newsdesk(env, "fetch")
    assert result.returncode != 0
    assert "sources.yaml" in result.stderr and "sources[0].url" in result.stderr


def test_fetch_with_nothing_due_says_how_many_wait_and_until_when(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(2)
        feeds = write_feeds(tmp_path / "feeds", [server.url(f"/farm/{i}.xml") for i in range(2)])
        env = env_for(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}", feeds)
        first = newsdesk(env, "fetch")
        assert first.returncode == 0, first.stderr
        assert "sources: 2 fetched" in first.stdout and "not due" not in first.stdout
        again = newsdesk(env, "fetch")
    assert again.returncode == 0, again.stderr
    assert "sources: 0 fetched, 0 not modified, 0 failed" in again.stdout
    assert re.search(r"; 2 not due yet, the next at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$",
                     again.stdout.strip()), again.stdout


def test_fetch_all_where_every_source_failed_exits_nonzero_with_each_failure_once(
        tmp_path: Path) -> None:
    with FeedServer() as server:
        missing = server.url("/gone-missing.xml")                     # 404
        broken = server.serve("/broken.xml", "oops", "text/plain", status=500)
        feeds = write_feeds(tmp_path / "feeds", [missing, broken])
        env = env_for(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}", feeds)
        env["NEWSDESK_LOG_LEVEL"] = "INFO"
        result = newsdesk(env, "fetch", "--all")
    assert result.returncode != 0, result.stdout
    assert "sources: 0 fetched, 0 not modified, 2 failed" in result.stdout
    lines = result.stderr.splitlines()
    for name, url, status in (("farm-0", missing, "HTTP 404"), ("farm-1", broken, "HTTP 500")):
        said = [line for line in lines if name in line]
        assert len(said) == 1, result.stderr                          # once, not twice
        assert url in said[0] and status in said[0] and "next try at" in said[0]


def test_fetch_where_some_sources_failed_still_exits_zero(tmp_path: Path) -> None:
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(2)
        feeds = write_feeds(tmp_path / "feeds", [server.url("/farm/0.xml"),
                                                 server.url("/missing.xml")])
        result = newsdesk(env_for(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}", feeds), "fetch")
    assert result.returncode == 0, result.stderr
    assert "1 fetched, 0 not modified, 1 failed" in result.stdout


@pytest.mark.parametrize("tick", ["-5", "0", "nan", "1e300"])
def test_worker_refuses_a_tick_that_is_not_a_positive_number_of_seconds(tmp_path: Path,
                                                                     tick: str) -> None:
    env = env_for(tmp_path, f"sqlite:///{tmp_path / 'nd.db'}",
                  write_feeds(tmp_path / "feeds", ["http://127.0.0.1:9/feed.xml"]))
    result = subprocess.run([*NEWSDESK, "worker", "--tick", tick], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "Invalid value for '--tick'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "nd.db").exists()               # refused before anything was done


@pytest.mark.parametrize("command", [["worker", "--tick", "1"], ["run"]])
def test_worker_stops_within_seconds_of_sigterm_even_while_a_feed_hangs(tmp_path: Path,
                                                                       command: list[str]
                                                                       ) -> None:
    db_url = f"sqlite:///{tmp_path / 'nd.db'}"
    release = threading.Event()

    def never_answers(_request: Request) -> Reply:
        release.wait(120)
        return Reply(200, b"")

    with FeedServer() as server:
        server.add("/slow.xml", never_answers)
        feeds = write_feeds(tmp_path / "feeds", [server.url("/slow.xml")])
        env = env_for(tmp_path, db_url, feeds, NEWSDESK_FETCH_TIMEOUT="100",
                      NEWSDESK_FETCH_DEADLINE="200")
        env.update(NEWSDESK_LOG_LEVEL="INFO", NEWSDESK_PORT="0",        # `run`: any free port
                   NEWSDESK_CONTENT_DIR=str(tmp_path / "no-content"))
        worker = subprocess.Popen([*NEWSDESK, *command], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not server.hits and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.1)
            assert server.hits, "the worker never asked for the feed"
            worker.send_signal(signal.SIGTERM)
            try:             # a liveness bound, not a timing assertion: the feed hangs 120 s
                _, err = worker.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                pytest.fail("the worker did not stop within 15 s of SIGTERM")
        finally:
            release.set()
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    assert worker.returncode == 0, err
    assert "worker stopped with jobs in flight" in err and "Traceback" not in err
