"""A database outage under a running `newsdesk worker` (issue 16), through a loopback proxy in
front of PostgreSQL (tests/dbproxy.py): connections reset, or held silent, for a few seconds
(bench/db_outage.py runs the 20 s of the acceptance and prints the figures).  The worker says it
once, passes again after the restore, holds no lease it forgot, and stores every entry the feeds
served, once."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.store.db import Database
from app.store.models import FeedSourceRow, RecordRow
from tests.conftest import PG_URL, _pg_schema_url
from tests.dbproxy import DbProxy
from tests.feedserver import FeedServer, Reply, Request, farm_feed
from tests.test_farm import write_feeds
from tests.test_workers import env_for, start, stop, until

pytestmark = pytest.mark.postgres
SOURCES = 5
OUTAGE = 6.0        # seconds in the test; bench/db_outage.py runs 20


@dataclass
class OutageFigures:
    mode: str
    outage: float
    resumed_after: float        # seconds from the restore to the first pass that stored
    unreachable_lines: int      # "the database is unreachable" lines in the log
    reachable_lines: int
    tracebacks: int
    served: int                 # distinct entries the feeds served
    stored: int                 # records in the database
    orphan_leases: int          # leases still held once the worker is idle
    exit_code: int
    log: str


class GrowingFeeds:
    """Feeds that gain one entry a second while the test runs (until `freeze`), so that entries
    appear during the outage too; `served` remembers the most any request got, per source."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.frozen: float | None = None
        self.served: dict[int, int] = {}
        self.stored_hits: list[float] = []
        self.lock = threading.Lock()

    def freeze(self) -> None:
        self.frozen = time.monotonic()

    def route(self, request: Request) -> Reply:
        source = int(request.path.rsplit("/", 1)[1].split(".")[0])
        now = self.frozen or time.monotonic()
        n = 1 + int(now - self.t0)
        with self.lock:
            self.served[source] = max(self.served.get(source, 0), n)
            self.stored_hits.append(time.monotonic())
        return Reply(200, farm_feed(source, n),
                     {"Content-Type": "application/rss+xml; charset=utf-8"})


def count(db: Database) -> tuple[int, int]:
    """Records stored, and sources leased."""
    with db.session() as session:
        records = session.scalar(select(func.count()).select_from(RecordRow)) or 0
        leased = session.scalar(select(func.count()).select_from(FeedSourceRow).where(
            FeedSourceRow.lease_owner.is_not(None))) or 0
        return int(records), int(leased)


def outage_scenario(db_url: str, tmp_path: Path, mode: str, outage: float,
                    *, bound: float = 60.0) -> OutageFigures:
    """A worker through the proxy; `outage` seconds of `mode` (reset, silent, silent-drop)
    once it has stored its first entries; then the figures."""
    db = Database(db_url)                   # migrated here, directly
    url = make_url(db_url)
    feeds_state = GrowingFeeds()
    try:
        with FeedServer() as server, DbProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
            server.prefixes["/grow/"] = feeds_state.route
            feeds = write_feeds(tmp_path / f"feeds-{mode}",
                                [server.url(f"/grow/{i}.xml") for i in range(SOURCES)])
            env = env_for(tmp_path, proxy.url(db_url), feeds, NEWSDESK_LOG_LEVEL="INFO",
                          NEWSDESK_FETCH_INTERVAL="2", NEWSDESK_PARSE_PROCESSES="1",
                          NEWSDESK_FETCH_WORKERS="2", NEWSDESK_ENRICH_INTERVAL="0",
                          NEWSDESK_HEAT_INTERVAL="0")
            worker = start(env, "worker", "--tick", "0.5")
            try:
                until(lambda: count(db)[0] >= SOURCES, "the first entries stored", bound)
                if mode == "reset":
                    proxy.reset()
                else:
                    proxy.silence()
                time.sleep(outage)
                before = count(db)[0]
                proxy.restore(drop=mode == "silent-drop")
                restored = time.monotonic()
                until(lambda: count(db)[0] > before, "a pass storing after the restore",
                      bound)
                resumed = time.monotonic() - restored
                feeds_state.freeze()
                time.sleep(2.5)                 # every source due once more: all served
                served = sum(feeds_state.served.values())
                until(lambda: count(db)[0] >= served, "every served entry stored", bound)
                until(lambda: count(db)[1] == 0, "no lease held by an idle worker", bound)
                records, leased = count(db)
            finally:
                code, err = stop(worker)
                (tmp_path / f"worker-{mode}.log").write_text(err, encoding="utf-8")
    finally:
        db.dispose()
    return OutageFigures(
        mode, outage, resumed,
        len(re.findall(r"the database is unreachable", err)),
        len(re.findall(r"the database is reachable again", err)),
        err.count("Traceback"), served, records, leased, code, err)


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        pytest.skip("NEWSDESK_TEST_DATABASE_URL is not set")
    yield from _pg_schema_url(PG_URL)


@pytest.mark.parametrize("mode", ["reset", "silent", "silent-drop"])
def test_a_worker_rides_out_a_database_outage(pg_url: str, tmp_path: Path, mode: str) -> None:
    figures = outage_scenario(pg_url, tmp_path, mode, OUTAGE)
    print(f"{mode}: resumed {figures.resumed_after:.1f} s after the restore")
    shown = figures.log[-3000:]
    assert figures.exit_code == 0, shown
    assert figures.tracebacks == 0, shown
    assert figures.unreachable_lines <= 1 and figures.reachable_lines <= 1, shown
    if mode == "reset":          # a silence may pass unnoticed, if no statement outwaits it
        assert figures.unreachable_lines == 1 and figures.reachable_lines == 1, shown
    assert figures.stored == figures.served, shown       # none lost, none twice
    assert figures.orphan_leases == 0


def test_the_proxy_passes_a_connection_through(pg_url: str) -> None:
    url = make_url(pg_url)
    with DbProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
        db = Database(proxy.url(pg_url), migrate=False, pool_pre_ping=False)
        try:
            with db.engine.connect() as connection:
                assert connection.exec_driver_sql("SELECT 1").scalar() == 1
        finally:
            db.dispose()
    assert proxy.connections >= 1
