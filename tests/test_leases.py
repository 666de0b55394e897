"""Leases of several workers on one database (issue 16), on SQLite and PostgreSQL: a source is
leased only while it is due and free, in one statement; an expired lease is taken over and
said; a process keeps one worker id, so a failed pass finds its own leases again; article pages
are leased like sources."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.clock import fixed
from app.config import Settings
from app.ingest import Ingestor, PassSummary
from app.runs.leases import Heartbeat, worker_id
from app.sources import FeedConfig, FeedSource, load_feeds
from app.store.db import Database
from app.store.repository import EnrichmentRepository, IngestRepository
from app.store.workers import WorkerRepository
from tests.conftest import TEST_CONFIG
from tests.feedserver import FeedServer, farm_route

SHIPPED = load_feeds(TEST_CONFIG)
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.prefixes["/farm/"] = farm_route(3)
        yield srv


def ingestor(db: Database, tmp_path: Path, sources: list[FeedSource], *, owner: str | None = None,
             now: datetime = T0, **values: Any) -> Ingestor:
    config = FeedConfig(sources=tuple(sources), topics=SHIPPED.topics,
                        providers=SHIPPED.providers, auto_publish=SHIPPED.auto_publish)
    settings = Settings.from_env({}, data_dir=tmp_path, feeds=tmp_path,
                                 allow_private_networks=True, fetch_timeout=2, fetch_deadline=5,
                                 parse_processes=1, fetch_interval=600, clock=fixed(now),
                                 **values)
    return Ingestor(db, settings, config, owner=owner)


def farm(server: FeedServer, n: int) -> list[FeedSource]:
    return [FeedSource(f"s{i}", server.url(f"/farm/{i}.xml")) for i in range(n)]


def leases(db: Database) -> dict[str, str | None]:
    with db.session() as session:
        return {s.name: s.lease_owner for s in IngestRepository(session).states()}


def test_a_source_another_worker_fetched_since_it_was_selected_is_not_fetched_again(
        db: Database, tmp_path: Path, server: FeedServer) -> None:
    sources = farm(server, 4)
    slow = ingestor(db, tmp_path, sources, owner="host-a:1:a")
    chosen = [s for s, _ in slow.select()]          # all four due: never fetched
    assert len(chosen) == 4
    fast = ingestor(db, tmp_path, sources, owner="host-b:2:b")
    assert fast.run().fetched == 4                  # the other worker fetches them meanwhile
    summary = PassSummary()
    assert slow._lease(chosen, summary) == []       # no longer due: not leased
    assert summary.busy == 4
    assert Counter(server.hits) == Counter(f"/farm/{i}.xml" for i in range(4))   # once each


def test_a_source_is_fetched_once_by_workers_racing_for_it(
        db: Database, tmp_path: Path, server: FeedServer) -> None:
    sources = farm(server, 30)
    workers = [ingestor(db, tmp_path, sources, owner=f"host-{i}:{i}:w", fetch_workers=2)
               for i in range(3)]
    for worker in workers:
        worker.select()         # every worker sees every source due before any is fetched
    summaries: list[PassSummary] = []
    barrier = threading.Barrier(len(workers))

    def run(worker: Ingestor) -> None:
        barrier.wait()
        summaries.append(worker.run())

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(summaries) == 3
    assert sum(s.fetched for s in summaries) == 30
    hits = Counter(server.hits)
    assert len(hits) == 30 and max(hits.values()) == 1, hits.most_common(3)
    assert set(leases(db).values()) == {None}       # every lease given back


def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(
        db: Database, tmp_path: Path, server: FeedServer) -> None:
    sources = farm(server, 2)
    dead = ingestor(db, tmp_path, sources, owner="other-host:99:dead", lease_timeout=30)
    dead.select()
    assert len(dead._lease(sources, PassSummary())) == 2     # then it dies, holding both
    early = ingestor(db, tmp_path, sources, now=T0 + timedelta(seconds=20), lease_timeout=30)
    summary = early.run()
    assert summary.fetched == 0 and summary.busy == 2 and server.hits == []
    late = ingestor(db, tmp_path, sources, now=T0 + timedelta(seconds=31), lease_timeout=30)
    summary = late.run()
    assert summary.fetched == 2 and summary.taken_over == 2
    assert set(leases(db).values()) == {None}


def test_one_process_is_one_worker_so_a_failed_pass_finds_its_own_leases(
        db: Database, tmp_path: Path, server: FeedServer) -> None:
    sources = farm(server, 3)
    first = ingestor(db, tmp_path, sources)
    first.select()
    first._lease(sources, PassSummary())             # a pass that died before its end
    assert set(leases(db).values()) == {worker_id()}
    again = ingestor(db, tmp_path, sources, now=T0 + timedelta(seconds=5))
    assert again.owner == first.owner
    assert again.run().fetched == 3                  # not "another worker holds them"
    assert set(leases(db).values()) == {None}


def test_a_heartbeat_renews_the_leases_of_its_worker_and_stopping_gives_them_back(
        db: Database, tmp_path: Path, server: FeedServer) -> None:
    sources = farm(server, 2)
    worker = ingestor(db, tmp_path, sources, lease_timeout=30)
    worker.select()
    worker._lease(sources, PassSummary())
    later = Settings.from_env({}, lease_timeout=30, clock=fixed(T0 + timedelta(seconds=25)))
    Heartbeat(db, later, beat=True).once()           # 25 s on: held until 55 s now
    thief = ingestor(db, tmp_path, sources, owner="h:2:thief",
                     now=T0 + timedelta(seconds=40), lease_timeout=30)
    assert thief.run().busy == 2 and server.hits == []
    with db.session() as session:
        seen = WorkerRepository(session).workers()
        assert [w.id for w in seen] == [worker_id()] and not seen[0].stopped
        WorkerRepository(session).stopped(worker_id())
    assert set(leases(db).values()) == {None}
    with db.session() as session:
        assert WorkerRepository(session).workers()[0].stopped


def _records(db: Database, server: FeedServer, tmp_path: Path) -> list[str]:
    ingestor(db, tmp_path, farm(server, 2)).run()
    with db.session() as session:
        return EnrichmentRepository(session).enrichment_due(now=T0, limit=100)


def test_article_pages_are_leased_to_one_worker_each(db: Database, tmp_path: Path,
                                                     server: FeedServer) -> None:
    ids = _records(db, server, tmp_path)
    assert len(ids) == 6
    until = T0 + timedelta(seconds=60)
    got: dict[str, list[str]] = {}
    for who in ("a:1:x", "b:2:y"):
        with db.session() as session:
            got[who] = WorkerRepository(session).lease_pages(ids, who, now=T0, until=until,
                                                             due_only=True)
    assert got["a:1:x"] == ids and got["b:2:y"] == []
    with db.session() as session:              # one page read and saved: no longer due
        EnrichmentRepository(session).save_enrichment_state(
            ids[0], state="done", attempts=1, now=T0, next_attempt_at=None, error=None)
        WorkerRepository(session).release_page(ids[0], "a:1:x")
    later = T0 + timedelta(seconds=61)          # a:1:x stopped beating: its leases expired
    with db.session() as session:
        taken = WorkerRepository(session).lease_pages(
            ids, "b:2:y", now=later, until=later + timedelta(seconds=60), due_only=True)
    assert taken == ids[1:]


def test_a_worker_of_this_host_whose_process_is_gone_is_known_gone() -> None:
    """`newsdesk fetch` run again after a kill -9 takes over the dead pass's leases at once; a
    live process, this process and another host's worker keep theirs until they expire."""
    import os
    import socket
    import subprocess
    import sys

    from app.runs.leases import gone_here

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = socket.gethostname()
    assert gone_here(f"{host}:{child.pid}:0123abcd")
    assert not gone_here(f"{host}:{os.getpid()}:0123abcd")
    assert not gone_here(f"{host}:1:0123abcd")                     # init: alive
    assert not gone_here(f"elsewhere.example:{child.pid}:0123abcd")
    assert not gone_here("not a worker id")
