"""One pass over the sources of feeds/: sources -> fetch -> parse -> normalize -> classify ->
store.  `newsdesk fetch`, the worker's scheduler and the tests all call `run_pass`.

Threads fetch and run the pure stages; every database statement runs in the calling thread.  A
source is leased in the database just before it is fetched, so two workers on one database never
fetch the same source at the same time; its entries and its new state (ETag, Last-Modified, next
due time) are committed in one transaction, so a crash means a refetch, never a loss.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context

import httpx
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from app.clock import Clock
from app.config import Settings
from app.errors import ConfigError
from app.pass_summary import PassSummary
from app.pass_summary import shown_time as _shown_time
from app.pipeline.classify import Classifier
from app.pipeline.fetch import FetchLimits, FetchResult, fetch_feed, make_client
from app.pipeline.normalize import Normalized
from app.pipeline.overrides import FetchRequest, apply_editor_changes
from app.pipeline.state import SourceState, after_fetch
from app.pipeline.store import StoreCounts, store_entries
from app.pipeline.work import init_process, parse_body, parse_in_process, sealed
from app.record import Record
from app.runs.leases import Heartbeat, gone_here, is_connection_error, lease_until, worker_id
from app.secured import Keyring
from app.sources import FeedConfig, FeedSource
from app.store.db import Database
from app.store.editor_settings import EditorSettingsRepository
from app.store.repository import IngestRepository, RecordRepository
from app.store.search import index_pending

log = logging.getLogger(__name__)
PROCESS_POOL_MIN_SOURCES = 16
INDEX_EVERY = 5000        # new records between two runs of the search indexer in a pass
QUIET_BATCH = 64          # state-only updates (304s, errors) written together
LEASE_AHEAD = 8           # sources leased at once per fetch worker (one transaction)

def storage_error(exc: BaseException) -> str | None:
    """A short reason when `exc` says the database cannot be written (a full disk, an OSError
    under the database), else None (a bug or a conflict: not ours to explain)."""
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(cause, OSError):
        return f"{type(cause).__name__}: {cause}"
    text = str(cause)
    if "database or disk is full" in text or getattr(cause, "sqlstate", None) == "53100":
        return text.strip().splitlines()[0] if text.strip() else "the disk is full"
    return None


@dataclass(frozen=True)
class SourceOutcome:
    source: FeedSource
    state: SourceState
    fetch: FetchResult
    items: tuple[Normalized, ...] = ()
    parse_error: str | None = None
    warnings: tuple[str, ...] = ()
    skipped: int = 0


# --------------------------------------------------------------------------- the worker side

def process_source(client: httpx.Client, source: FeedSource, state: SourceState, *,
                   config: FeedConfig, classifier: Classifier, limits: FetchLimits,
                   clock: Clock, pool: Executor | None = None,
                   keyring: Keyring | None = None, max_entries: int = 0) -> SourceOutcome:
    """fetch -> parse -> normalize -> classify (and, with `keyring`, seal each record's
    sighting) for one source, with no database.  With `pool`, the CPU-bound stages run in
    another process while this thread waits."""
    result = fetch_feed(client, state.url, etag=state.etag, last_modified=state.last_modified,
                        limits=limits, now=clock())
    if result.kind != "ok":
        return SourceOutcome(source, state, result)
    if pool is not None:
        parsed = pool.submit(parse_in_process, source, result.body, result.final_url,
                             result.content_type, clock(), keyring, max_entries).result()
    else:
        parsed = parse_body(source, result.body, result.final_url, result.content_type,
                            clock(), config=config, classifier=classifier, keyring=keyring,
                            max_entries=max_entries)
    return SourceOutcome(source, state, result, parsed.items, parsed.error, parsed.warnings,
                         parsed.skipped)


# --------------------------------------------------------------------------- leases

def _retrying(action: Callable[[], None], attempts: int = 6) -> None:
    """Run a transaction again when SQLite says another writer holds the database."""
    for attempt in range(attempts):
        try:
            action()
            return
        except OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc).lower():
                raise
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2 ** attempt * random.uniform(0.5, 1.5))


# --------------------------------------------------------------------------- the pass

class Ingestor:
    """Runs passes for one configuration on one database.  Each pass follows feeds/ as editors
    changed it (app/pipeline/overrides.py): their paused, re-timed, re-topiced and added
    sources, their "fetch now" requests and their topic rules."""

    def __init__(self, db: Database, settings: Settings, config: FeedConfig, *,
                 clock: Clock | None = None, rng: random.Random | None = None,
                 owner: str | None = None) -> None:
        self.db, self.settings, self.feeds, self.config = db, settings, config, config
        self.requested: dict[str, FetchRequest] = {}
        self.clock = clock or settings.clock
        self.rng = rng or random.Random()
        self.classifier = Classifier(config.topics)
        self.limits = FetchLimits(timeout=float(settings.fetch_timeout),
                                  deadline=float(settings.fetch_deadline),
                                  max_bytes=settings.fetch_max_bytes,
                                  user_agent=settings.user_agent)
        self.owner = owner or worker_id()     # another worker's id: tests of two workers
        self.stop = threading.Event()
        self._ids: tuple[dict[str, int], dict[str, int]] = ({}, {})   # provider, topic ids
        self._unindexed = 0
        self.waiting: list[SourceState] = []   # enabled sources select() left as not due
        self.due_only: set[str] = set()

    def interval(self, source: FeedSource) -> float:
        return float(source.interval or self.settings.fetch_interval)

    def follow_editors(self) -> None:
        """Take up editors' current changes to feeds/ (sources, fetch requests, topic rules)."""
        with self.db.session() as session:
            editors = EditorSettingsRepository(session)
            plan = apply_editor_changes(self.feeds, editors.sources(), editors.topic_rules())
        self.config, self.requested = plan.config, dict(plan.requested)
        if tuple(self.config.topics) != self.classifier.topics:     # rules an editor changed
            self.classifier = Classifier(self.config.topics)

    def select(self, *, names: Iterable[str] | None = None, every: bool = False
               ) -> list[tuple[FeedSource, SourceState]]:
        """The sources to fetch now: the due ones and those an editor asked for, every enabled
        one, or those named.  A source an editor paused is fetched only when named."""
        wanted = list(names or ())
        self.follow_editors()
        unknown = [n for n in wanted if self.config.source(n) is None]
        if unknown:
            raise ConfigError(f"no source named {', '.join(map(repr, unknown))} in feeds/",
                              path=str(self.settings.feeds))
        with self.db.session() as session:
            repo = IngestRepository(session)
            repo.sync_sources((s.name, s.url) for s in self.config.sources)
            states = {s.name: s for s in repo.states()}
        now = self.clock()
        chosen = []
        self.waiting = []
        self.due_only = set()   # chosen because due: leased only if still due (issue 16)
        for source in self.config.sources:
            state = states[source.name]
            if wanted:
                if source.name in wanted:
                    chosen.append((source, state))
            elif source.enabled and (source.name in self.requested or (
                    not state.disabled and (every or state.is_due(now)))):
                chosen.append((source, state))
                if not every and source.name not in self.requested:
                    self.due_only.add(source.name)
            elif source.enabled and not state.disabled:
                self.waiting.append(state)
        return chosen

    def _consume_requests(self, fetched: Iterable[str]) -> None:
        """Editors' "fetch now" requests of the sources this pass fetched are done (a request
        made meanwhile stays)."""
        done = [self.requested[name] for name in fetched if name in self.requested]
        if not done:
            return

        def write(session: Session) -> None:
            repo = EditorSettingsRepository(session)
            for request in done:
                repo.fetch_done(request.url, asked_at=request.at)

        self._write(write)

    def _write(self, action: Callable[[Session], object]) -> None:
        """`action` in a transaction of its own, run again while SQLite says another writer
        holds the database."""
        def attempt() -> None:
            with self.db.session() as session:
                action(session)

        _retrying(attempt)

    def _lease(self, batch: list[FeedSource], summary: PassSummary
               ) -> list[tuple[FeedSource, SourceState]]:
        """Lease a batch of sources in one statement: those no other worker holds and, of the
        due ones, those still due (another worker may have fetched one since select()).  The
        lease lasts NEWSDESK_LEASE_TIMEOUT and is renewed by the heartbeat while this process
        lives."""
        now = self.clock()
        until = lease_until(self.settings, now)
        held: list[tuple[FeedSource, SourceState]] = []
        taken: dict[str, str] = {}

        def take() -> None:
            held.clear()
            taken.clear()
            with self.db.session() as session:
                repo = IngestRepository(session)
                names = [s.name for s in batch]
                got, former = repo.take_leases(names, self.owner, until, now=now,
                                               due_only=self.due_only.intersection(names),
                                               gone=gone_here)
                current = {st.name: st for st in repo.states(sorted(got))}
                held.extend((s, current[s.name]) for s in batch if s.name in got)
                taken.update(former)

        _retrying(take)
        for name, owner in sorted(taken.items()):
            log.warning("%s: taken over from worker %s (its lease expired or its process is "
                        "gone)", name, owner)
        summary.taken_over += len(taken)
        summary.busy += len(batch) - len(held)
        return held

    def _next_state(self, outcome: SourceOutcome, *, now: datetime,
                    error: str | None = None) -> SourceState:
        return after_fetch(outcome.state, outcome.fetch, now=now,
                           interval=self.interval(outcome.source),
                           max_failures=self.settings.fetch_max_failures, rng=self.rng,
                           parse_error=error or outcome.parse_error)

    def _store(self, outcome: SourceOutcome, summary: PassSummary) -> None:
        """A source's entries and its new state in one transaction."""
        source = outcome.source
        now = self.clock()
        state = self._next_state(outcome, now=now)
        counts = StoreCounts()

        def write() -> None:
            nonlocal counts
            with self.db.session() as session:
                keys = IngestRepository(session)
                records = RecordRepository(session)
                records.seed_ids(*self._ids)
                counts = store_entries(records, keys, source.name, list(outcome.items),
                                       now=now, seal=self._sealer(source, now))
                keys.save_state(state, release_owner=self.owner)
            self._ids = records.known_ids()      # only after the commit: ids that exist

        try:
            _retrying(write)
        except Exception as exc:
            if is_connection_error(exc):
                # a lost database fails the pass (one line, app/scheduler.py), not this source:
                # its state is left as it was, so the next pass fetches these entries again
                raise
            reason = storage_error(exc)
            if reason is None:
                log.exception("could not store %s", source.name)
            else:                    # a full disk: the summary says it, no traceback
                log.error("could not store %s: %s", source.name, reason)
                summary.storage_error = reason
            self._ids = ({}, {})         # a cached id may be what failed
            state = self._next_state(outcome, now=now,
                                     error=f"could not store the entries: {reason or exc}")
            self._save_states([state], summary)
            counts = StoreCounts()
        self._count(outcome, state, counts, summary)

    def _save_states(self, states: list[SourceState], summary: PassSummary) -> bool:
        """`_store_states`, but a database that cannot be written (a full disk) is noted in
        the summary rather than raised: False then."""
        try:
            self._store_states(states)
        except Exception as exc:
            reason = storage_error(exc)
            if reason is None:
                raise
            log.error("could not store the state of %d source(s): %s", len(states), reason)
            summary.storage_error = reason
            return False
        return True

    def _index(self) -> None:
        """New records into the search index, in one statement (app.store.search)."""
        try:
            self._write(index_pending)
        except OperationalError as exc:   # the next pass, or the next search, indexes them
            reason = storage_error(exc)
            if reason is None:
                log.exception("could not index new records for search")
            else:
                log.error("could not index new records for search: %s", reason)
        self._unindexed = 0

    def _sealer(self, source: FeedSource, now: datetime
                ) -> Callable[[Record, Normalized], Record]:
        """What a new record keeps privately from its sighting, encrypted into `secured`: the
        source, the feed's URL, the entry's id and when it was fetched."""
        keyring = self._keyring(now)

        def seal(record: Record, item: Normalized) -> Record:
            return sealed(record, source, item, keyring, fetched_at=now)

        return seal

    def _keyring(self, now: datetime) -> Keyring:
        from app.keystore import load_keyring

        return load_keyring(self.db, self.settings, now=now)

    @staticmethod
    def _outcome(future: Future[SourceOutcome], source: FeedSource,
                 state: SourceState) -> SourceOutcome:
        """The outcome of a job; a crash inside it (a bug, a dead parsing process) is that
        source's failure, not the pass's."""
        try:
            return future.result()
        except Exception as exc:
            log.exception("processing %s failed", source.name)
            failed = FetchResult("error", state.url, state.url,
                                 error=f"processing failed: {exc!r}")
            return SourceOutcome(source, state, failed)

    def _release(self, states: list[SourceState]) -> None:
        """Give up leases taken but not used (the pass is stopping)."""
        if states:
            self._write(lambda session: IngestRepository(session).release(
                [s.name for s in states], self.owner))

    def _store_states(self, states: list[SourceState]) -> None:
        self._write(lambda session: IngestRepository(session).save_states(
            states, release_owner=self.owner))

    def _count(self, outcome: SourceOutcome, state: SourceState, counts: StoreCounts,
               summary: PassSummary) -> None:
        name, result = outcome.source.name, outcome.fetch
        for warning in outcome.warnings:
            summary.warnings.append(f"{name}: {warning}")
            log.warning("%s: %s", name, warning)
        if state.error_count > outcome.state.error_count or result.kind in ("gone",
                                                                              "retry_later"):
            summary.failed += 1
            reason = state.last_error or result.error or "failed"
            url = result.final_url or state.url
            if url not in reason:                # "HTTP 404 Not Found" names no URL
                reason = f"{url}: {reason}"
            if state.disabled:
                reason += " (source disabled)"
            elif state.next_due_at is not None:
                reason += f"; next try at {_shown_time(state.next_due_at)}"
            summary.failures.append(f"{name}: {reason}")
            log.debug("%s failed: %s", name, reason)    # the caller reports summary.failures
        elif result.kind == "not_modified":
            summary.not_modified += 1
        else:
            summary.fetched += 1
        summary.new += counts.new
        summary.updated += counts.updated
        summary.skipped += outcome.skipped
        self._unindexed += counts.new
        if result.moved_to:
            log.info("%s moved permanently to %s", name, result.moved_to)

    def run(self, *, names: Iterable[str] | None = None, every: bool = False) -> PassSummary:
        """One pass; returns what it did.  A database that cannot be written (a full disk)
        fails the sources it could not store; if it stops the pass itself, the summary says
        so (`storage_error`) rather than a traceback."""
        summary = PassSummary()
        try:
            return self._pass(summary, names=names, every=every)
        except Exception as exc:
            reason = storage_error(exc)
            if reason is None:
                raise
            log.error("the pass stopped: the database could not be written: %s", reason)
            summary.storage_error = reason
            summary.failures.append(f"the pass stopped: the database could not be written: "
                                    f"{reason}")
            return summary

    def _pass(self, summary: PassSummary, *, names: Iterable[str] | None,
              every: bool) -> PassSummary:
        todo = [source for source, _ in self.select(names=names, every=every)]
        summary.not_due = len(self.waiting)
        summary.next_due = min((s.next_due_at for s in self.waiting if s.next_due_at),
                               default=None)
        workers = max(1, self.settings.fetch_workers)
        client = make_client(self.limits, allow_private=self.settings.allow_private_networks,
                             workers=workers)
        processes = self.settings.parse_processes or (os.cpu_count() or 1)
        parsers = None
        if processes > 1 and len(todo) >= PROCESS_POOL_MIN_SOURCES:
            parsers = ProcessPoolExecutor(processes, mp_context=get_context("spawn"),
                                          initializer=init_process,
                                          initargs=(self.config, os.getpid()))
        quiet: list[tuple[SourceOutcome, SourceState]] = []   # outcomes with no entries
        fetched: list[str] = []

        def flush_quiet() -> None:
            if quiet:
                if not self._save_states([state for _, state in quiet], summary):
                    quiet[:] = [(o, self._next_state(o, now=self.clock(), error=(
                        f"could not store its state: {summary.storage_error}")))
                        for o, _ in quiet]
                for outcome, state in quiet:
                    self._count(outcome, state, StoreCounts(), summary)
                quiet.clear()

        keeper = Heartbeat(self.db, self.settings)     # renews this pass's leases
        keeper.start()
        try:
            with self.db.background_checkpoints(), \
                    ThreadPoolExecutor(workers, thread_name_prefix="fetch") as pool:
                pending: set[Future[SourceOutcome]] = set()
                jobs: dict[Future[SourceOutcome], tuple[FeedSource, SourceState]] = {}
                queue = list(reversed(todo))
                ready: list[tuple[FeedSource, SourceState]] = []   # leased, not yet submitted
                while queue or ready or pending:
                    if self.stop.is_set():
                        queue.clear()
                        self._release([state for _, state in ready])
                        ready.clear()
                    room = workers * 3 - len(pending)
                    if queue and len(ready) < room and room >= workers:
                        batch = [queue.pop() for _ in range(min(workers * LEASE_AHEAD,
                                                                len(queue)))]
                        ready.extend(reversed(self._lease(batch, summary)))
                    if ready and room >= workers:
                        keyring = self._keyring(self.clock())
                        submit = [ready.pop() for _ in range(min(room, len(ready)))]
                        for source, state in submit:
                            future = pool.submit(
                                process_source, client, source, state, config=self.config,
                                classifier=self.classifier, limits=self.limits,
                                clock=self.clock, pool=parsers, keyring=keyring,
                                max_entries=self.settings.fetch_max_entries)
                            jobs[future] = (source, state)
                            pending.add(future)
                    if not pending:
                        continue
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        outcome = self._outcome(future, *jobs.pop(future))
                        fetched.append(outcome.source.name)
                        if outcome.items:
                            self._store(outcome, summary)
                            if self._unindexed >= INDEX_EVERY:
                                self._index()
                        else:
                            quiet.append((outcome, self._next_state(outcome, now=self.clock())))
                    if len(quiet) >= QUIET_BATCH or not pending:
                        flush_quiet()
                flush_quiet()
            self._index()
            self._consume_requests(fetched)
        finally:
            keeper.stop()
            self._release_all()
            client.close()
            if parsers is not None:
                parsers.shutdown(wait=True, cancel_futures=True)
        return summary

    def _release_all(self) -> None:
        """A pass that ends, even by failing, leaves no lease behind (issue 16); when the
        database cannot be reached the leases expire after NEWSDESK_LEASE_TIMEOUT."""
        try:
            self._write(lambda session: IngestRepository(session).release_every(self.owner))
        except Exception as exc:  # noqa: BLE001 - the pass's own error is the one to report
            log.debug("could not release the leases of %s: %s", self.owner, exc)


def run_pass(db: Database, settings: Settings, config: FeedConfig, *,
             names: Iterable[str] | None = None, every: bool = False,
             clock: Clock | None = None) -> PassSummary:
    return Ingestor(db, settings, config, clock=clock).run(names=names, every=every)
