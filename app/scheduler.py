"""The worker: APScheduler runs a pass over the due sources every TICK seconds until SIGINT or
SIGTERM.  Started by `newsdesk worker` (or `newsdesk run`), never inside create_app: web servers
fork their workers, and a scheduler must run once.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from app.clock import system_clock
from app.config import Settings
from app.ingest import Ingestor, PassSummary
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
                                        limit=ENRICH_BATCH, priors=priors)
        except Exception:
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
        try:
            summary = self.ingestor.run()
        except Exception:
            log.exception("the pass failed")
            return
        for failure in summary.failures:    # a source that backs off says so once, with when
            log.warning("failed: %s", failure)
        worked = (summary.fetched or summary.not_modified or summary.failed or summary.new
                  or summary.updated)
        log.log(logging.INFO if worked else logging.DEBUG, summary.line())   # idle is quiet
        if self.on_pass:
            self.on_pass(summary)

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
        self.scheduler.start()
        log.info("worker started: a pass every %gs over %d sources", self.tick,
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
        stopper = threading.Thread(target=self.scheduler.shutdown, name="worker-stop",
                                   daemon=True)
        stopper.start()
        stopper.join(grace)
        if stopper.is_alive():
            log.warning("worker stopped with jobs in flight after %gs; their sources are "
                        "fetched again by the next pass", grace)
            return False
        return True


def start_background(settings: Settings, db: Database) -> Worker:
    """The scheduler of `newsdesk run`: the worker's jobs in a background thread beside the
    site.  The caller stops it with `.stop()`."""
    worker = Worker(db, settings)
    worker.scheduler.start()
    return worker
