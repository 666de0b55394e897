"""WebSub pings (issue 20): a loopback hub hears once about each topic feed a publish, an
unpublish or a hide changed, and nothing about the feeds that did not change; at most once a
minute per feed, retried with backoff when the hub fails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from app.config import Settings
from app.store.content import import_paths
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.websub import HubPinger
from tests.editor_fixtures import PUBLISHED, QUEUED, Clock
from tests.web.conftest import RECORDS

BASE = "https://news.example.org"


class Hub:
    """A WebSub hub on loopback that records each publish ping (its hub.url values)."""

    def __init__(self) -> None:
        self.pings: list[list[str]] = []
        self.status = 204
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                form = parse_qs(body)
                if form.get("hub.mode") == ["publish"]:
                    hub.pings.append(form["hub.url"])
                self.send_response(hub.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hub"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub() -> Iterator[Hub]:
    h = Hub()
    yield h
    h.close()


def decide(db: Database, rid: str, action: str, clock: Clock) -> None:
    with db.session() as s:
        EditorialRepository(s).decide([rid], action, actor="alice",  # type: ignore[arg-type]
                                      now=clock.now)


def topics_of(db: Database, rid: str) -> list[str]:
    from app.store.repository import RecordRepository

    with db.session() as s:
        record = RecordRepository(s).get(rid)
    assert record is not None
    return list(record.topics)


def test_one_ping_per_changed_topic_feed_and_none_for_the_others(
        db: Database, tmp_path: Path, clock: Clock, hub: Hub) -> None:
    from app.record import slugify

    assert import_paths(db, [RECORDS], now=clock.now).failed == 0
    settings = Settings.from_env({}, data_dir=tmp_path, base_url=BASE, websub_hub=hub.url)
    pinger = HubPinger(db, settings)
    assert pinger.run(clock.now).pinged == []            # learns what the feeds show
    assert pinger.run(clock.now).pinged == [] and hub.pings == []
    clock.advance(seconds=5)
    decide(db, QUEUED, "publish", clock)
    clock.advance(seconds=10)
    report = pinger.run(clock.now)
    changed = sorted(["", *(slugify(t) for t in topics_of(db, QUEUED))])
    assert report.pinged == changed
    assert len(hub.pings) == len(changed)                # one ping per changed feed
    assert sorted(p[0] for p in hub.pings) == sorted(
        f"{BASE}{'/topics/' + k if k else ''}/feed.xml" for k in changed)
    assert all(p[1].endswith("/atom.xml") for p in hub.pings)
    assert pinger.run(clock.now + timedelta(minutes=5)).pinged == []   # nothing new
    # a second change within the minute waits for it, then goes in one ping
    decide(db, QUEUED, "hide", clock)
    hub.pings.clear()
    assert pinger.run(clock.now + timedelta(seconds=30)).waiting == changed
    assert hub.pings == []
    assert pinger.run(clock.now + timedelta(seconds=61)).pinged == changed
    assert len(hub.pings) == len(changed)


def test_a_failing_hub_is_tried_again_with_backoff(db: Database, tmp_path: Path,
                                                   clock: Clock, hub: Hub) -> None:
    assert import_paths(db, [RECORDS], now=clock.now).failed == 0
    settings = Settings.from_env({}, data_dir=tmp_path, base_url=BASE, websub_hub=hub.url)
    pinger = HubPinger(db, settings)
    pinger.run(clock.now)
    decide(db, PUBLISHED, "unpublish", clock)
    hub.status = 503
    start = clock.now
    first = pinger.run(start)
    assert first.failed and not first.pinged
    assert pinger.run(start + timedelta(seconds=59)).waiting == first.failed   # 1 min
    assert pinger.run(start + timedelta(seconds=61)).failed == first.failed
    assert pinger.run(start + timedelta(seconds=61 + 119)).waiting == first.failed  # 2 min
    hub.status = 202
    hub.pings.clear()
    assert pinger.run(start + timedelta(seconds=61 + 121)).pinged == first.failed
    assert len(hub.pings) == len(first.failed)
