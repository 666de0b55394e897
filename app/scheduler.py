"""The worker: APScheduler runs a pass over the due sources every TICK seconds until SIGINT or
SIGTERM.  Started by `newsdesk worker` (or `newsdesk run`), never inside create_app: web servers
fork their workers, and a scheduler must run once.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from app.clock import system_clock
from app.config import Settings
from app.ingest import Ingestor, PassSummary
from app.runs.leases import Heartbeat, Outage, is_connection_error, worker_id
from app.sources import load_feeds
from app.store.db import Database

log = logging.getLogger(__name__)
TICK = 30.0
ENRICH_BATCH = 100     # records whose pages one enrichment pass reads at most
STOP_GRACE = 5.0       # seconds the jobs in flight get to finish after SIGTERM/SIGINT
WEBSUB_TICK = 15.0     # seconds between WebSub runs: a change reaches the hub within a minute


class Worker:
    """A scheduler whose one job runs a pass over the due sources.  `feeds/` is read again
    before each pass, so an edit takes effect without a restart (a broken edit is logged and
    the last good configuration kept)."""

    def __init__(self, db: Database, settings: Settings, *, tick: float = TICK,
                 on_pass: Callable[[PassSummary], None] | None = None) -> None:
        if not tick > 0:
            raise ValueError(f"the tick must be a positive number of seconds, not {tick!r}")
        self.db, self.settings, self.tick = db, settings, tick
        self.on_pass = on_pass
        self.stopping = threading.Event()
        self.config = load_feeds(settings.feeds)
        self.ingestor: Ingestor | None = None
        self.outage = Outage()        # a lost database is one line, not a traceback a tick
        settings_text = repr(sorted((k, v) for k, v in vars(settings).items() if k not in (
            "clock", "secret_key", "database_url")))
        self.heartbeat = Heartbeat(db, settings, beat=True, outage=self.outage,
                                   config_hash=hashlib.sha256(
                                       settings_text.encode("utf-8")).hexdigest()[:16])
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.scheduler.add_job(self.one_pass, "interval", seconds=tick, id="ingest",
                               max_instances=1, coalesce=True,
                               # APScheduler's own timeline is the wall clock: "run at once"
                               next_run_time=system_clock())
        if settings.enrich_interval > 0:
            self.scheduler.add_job(self.enrich_pass, "interval", seconds=settings.enrich_interval,
                                   id="enrich", max_instances=1, coalesce=True)
        if settings.heat_interval > 0:
            self.scheduler.add_job(self.heat_pass, "interval", seconds=settings.heat_interval,
                                   id="heat", max_instances=1, coalesce=True)
        if settings.websub_hub.strip():            # issue 20: tell the hub what changed
            from app.websub import HubPinger

            self.pinger = HubPinger(db, settings)
            self.scheduler.add_job(self.websub_pass, "interval", seconds=WEBSUB_TICK,
                                   id="websub", max_instances=1, coalesce=True,
                                   next_run_time=system_clock())

    def enrich_pass(self) -> None:
        """Read the pages of new records (and due retries), then relate and heat them."""
        if self.stopping.is_set():
            return
        from app.pipeline.enrichment import enrich_new_records

        priors = {p.domain: p.quality for p in self.config.providers}
        try:
            report = enrich_new_records(self.db, self.settings, self.settings.clock(),
                                        limit=ENRICH_BATCH, priors=priors,
                                        stop=self.stopping, owner=worker_id())
        except Exception as exc:
            if is_connection_error(exc):
                self.outage.failed("enrichment", exc)
            else:
                log.exception("the enrichment pass failed")
            return
        if report.enriched or report.retry_later or report.gave_up:
            log.info("enrichment: %s", report.summary())

    def websub_pass(self) -> None:
        """Announce to the WebSub hub the feeds that changed since the last run."""
        if self.stopping.is_set():
            return
        try:
            report = self.pinger.run(self.settings.clock())
        except Exception:
            log.exception("the WebSub pass failed")
            return
        if report.pinged or report.failed:
            log.info("WebSub: %s", report.summary())

    def heat_pass(self) -> None:
        """Recompute the heat of recent stories: it decays with time even when nothing new
        arrives."""
        if self.stopping.is_set():
            return
        from app.runs.judge import judge_heat

        try:
            report = judge_heat(self.db, self.settings, self.settings.clock())
        except Exception:
            log.exception("the heat pass failed")
            return
        log.log(logging.INFO if report.written or report.cooled else logging.DEBUG,
                "heat: %s", report.heat_summary())

    def one_pass(self) -> None:
        if self.stopping.is_set():
            return
        try:
            self.config = load_feeds(self.settings.feeds)
        except Exception as exc:  # noqa: BLE001 - keep running on the last good feeds/
            log.error("feeds/ not reloaded, keeping the last good configuration: %s", exc)
        self.ingestor = Ingestor(self.db, self.settings, self.config)
        if self.stopping.is_set():
            return
        started = time.monotonic()
        try:
            summary = self.ingestor.run()
        except Exception as exc:
            if is_connection_error(exc):
                self.outage.failed("pass", exc)
            else:
                log.exception("the pass failed")
            self._passed(None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
            return
        self.outage.ok()
        self._passed(summary, time.monotonic() - started, None)
        for failure in summary.failures:    # a source that backs off says so once, with when
            log.warning("failed: %s", failure)
        worked = (summary.fetched or summary.not_modified or summary.failed or summary.new
                  or summary.updated)
        log.log(logging.INFO if worked else logging.DEBUG, summary.line())   # idle is quiet
        if self.on_pass:
            self.on_pass(summary)

    def _passed(self, summary: PassSummary | None, seconds: float, error: str | None) -> None:
        """The pass on the worker's heartbeat row: when, how long, and its counts."""
        from app.store.workers import WorkerRepository

        counts = {} if summary is None else {
            "sources_fetched": summary.fetched, "sources_not_modified": summary.not_modified,
            "sources_failed": summary.failed, "records_new": summary.new,
            "fetches_avoided": summary.busy, "leases_taken_over": summary.taken_over}
        try:
            with self.db.session() as session:
                WorkerRepository(session).passed(worker_id(), now=self.settings.clock(),
                                                 seconds=seconds, error=error,
                                                 counts=counts)
        except Exception as exc:  # noqa: BLE001 - said once by the outage, or next pass
            log.debug("could not record the pass: %s", exc)

    def request_stop(self, *_: object) -> None:
        self.stopping.set()
        if self.ingestor is not None:
            self.ingestor.stop.set()

    def run_until_stopped(self, *, install_signals: bool = True,
                          grace: float = STOP_GRACE) -> bool:
        """Run until SIGINT/SIGTERM (or request_stop); sources being fetched are finished and
        stored, the others wait for the next worker.  Returns False when the jobs in flight
        did not finish within `grace` seconds (a feed that trickles its bytes, a long
        enrichment): the caller then ends the process, as a crash would (their sources are
        fetched again by the next pass; the leases of this dead process are taken over)."""
        if install_signals:
            def handler(signum: int, _frame: FrameType | None) -> None:
                log.info("signal %s: stopping after the sources in flight", signum)
                self.request_stop()

            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGTERM, handler)
        self.heartbeat.once_quietly()
        self.heartbeat.start()
        self.scheduler.start()
        log.info("worker %s started: a pass every %gs over %d sources", worker_id(), self.tick,
                 len(self.config.sources))
        while not self.stopping.wait(0.5):
            pass
        if not self.stop(grace):
            return False
        log.info("worker stopped")
        return True

    def stop(self, grace: float = STOP_GRACE) -> bool:
        """Stop the scheduler, giving the jobs in flight `grace` seconds; False when some
        still run then (the caller ends the process: see run_until_stopped)."""
        self.request_stop()
        self.heartbeat.stop()
        stopper = threading.Thread(target=self.scheduler.shutdown, name="worker-stop",
                                   daemon=True)
        stopper.start()
        stopper.join(grace)
        finished = not stopper.is_alive()
        if not finished:
            log.warning("worker stopped with jobs in flight after %gs; their sources are "
                        "fetched again by the next pass", grace)
        self._give_back(wait=2.0)
        return finished

    def _give_back(self, wait: float) -> None:
        """Mark this worker stopped and give up its leases, for at most `wait` seconds (a
        database that does not answer: they expire after NEWSDESK_LEASE_TIMEOUT)."""
        from app.store.workers import WorkerRepository

        def give_back() -> None:
            try:
                with self.db.session() as session:
                    WorkerRepository(session).stopped(worker_id())
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                log.debug("could not give back the leases: %s", exc)

        thread = threading.Thread(target=give_back, name="give-back", daemon=True)
        thread.start()
        thread.join(wait)


def start_background(settings: Settings, db: Database) -> Worker:
    """The scheduler of `newsdesk run`: the worker's jobs in a background thread beside the
    site.  The caller stops it with `.stop()`."""
    worker = Worker(db, settings)
    worker.heartbeat.start()
    worker.scheduler.start()
    return worker
