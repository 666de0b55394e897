"""What an operator of several workers looks at (issue 16): the workers part of /healthz, and
/metrics in the Prometheus text format, read from the database so that every worker process,
on any host, is counted whichever site process answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from app.config import Settings
from app.store.db import Database
from app.store.workers import WorkerRepository
from app.web import get_db, get_settings

bp = Blueprint("operations", __name__)
OVERDUE_GRACE = timedelta(seconds=60)    # a source this late counts as ingestion lag


def workers_health(db: Database, settings: Settings, now: datetime) -> tuple[bool, dict[str, Any]]:
    """(healthy, the workers part of /healthz): each worker's ages in seconds, the sources
    overdue and by how long.  Unhealthy only when NEWSDESK_HEALTH_MAX_PASS_AGE is set and no
    running worker has finished a pass within it."""
    with db.sessions() as session:
        repo = WorkerRepository(session)
        workers = repo.workers()
        overdue, lag = repo.overdue(now, OVERDUE_GRACE)
    shown = []
    passing = False
    for w in workers:
        beat_age = (now - w.beat_at).total_seconds()
        pass_age = None if w.last_pass_at is None else (now - w.last_pass_at).total_seconds()
        alive = not w.stopped and beat_age <= max(1, settings.lease_timeout)
        limit = settings.health_max_pass_age
        if alive and pass_age is not None and limit > 0 and pass_age <= limit:
            passing = True
        shown.append({"id": w.id, "host": w.host, "pid": w.pid, "alive": alive,
                      "stopped": w.stopped, "heartbeat_age_seconds": round(beat_age, 1),
                      "last_pass_age_seconds": None if pass_age is None else round(pass_age, 1),
                      "last_error": w.last_error})
    healthy = settings.health_max_pass_age <= 0 or passing
    return healthy, {"workers": shown, "sources_overdue": overdue,
                     "ingestion_lag_seconds": round(lag, 1)}


class _Collector:
    """Reads the figures at each scrape."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings

    def collect(self) -> Any:
        now = self.settings.clock()
        with self.db.sessions() as session:
            repo = WorkerRepository(session)
            totals = repo.totals()
            workers = repo.workers()
            held, expired = repo.leases(now)
            backlog = repo.enrichment_backlog(now)
            overdue, lag = repo.overdue(now, OVERDUE_GRACE)
        alive = [w for w in workers if not w.stopped and
                 (now - w.beat_at).total_seconds() <= max(1, self.settings.lease_timeout)]
        yield GaugeMetricFamily("newsdesk_workers_alive", "workers beating within the lease "
                                "timeout", value=len(alive))
        passes = CounterMetricFamily("newsdesk_passes", "ingestion passes finished by all "
                                     "workers")
        passes.add_metric([], totals["passes"])
        yield passes
        seconds = CounterMetricFamily("newsdesk_pass_duration_seconds", "seconds spent in "
                                      "ingestion passes by all workers")
        seconds.add_metric([], totals["pass_seconds"])
        yield seconds
        outcomes = CounterMetricFamily("newsdesk_sources", "sources fetched by outcome",
                                       labels=["outcome"])
        for outcome, column in (("fetched", "sources_fetched"),
                                ("not_modified", "sources_not_modified"),
                                ("failed", "sources_failed")):
            outcomes.add_metric([outcome], totals[column])
        yield outcomes
        for name, column, text in (
                ("newsdesk_records_new", "records_new", "new records stored"),
                ("newsdesk_duplicate_fetches_avoided", "fetches_avoided",
                 "sources left to the worker that held or had just fetched them"),
                ("newsdesk_leases_taken_over", "leases_taken_over",
                 "leases of workers that stopped beating, taken over")):
            family = CounterMetricFamily(name, text)
            family.add_metric([], totals[column])
            yield family
        yield GaugeMetricFamily("newsdesk_leases_held", "source and page leases held",
                                value=held)
        yield GaugeMetricFamily("newsdesk_leases_expired", "leases held past their end",
                                value=expired)
        yield GaugeMetricFamily("newsdesk_enrichment_backlog", "records whose page is to be "
                                "read", value=backlog)
        yield GaugeMetricFamily("newsdesk_sources_overdue", "enabled sources more than a "
                                "minute past due", value=overdue)
        yield GaugeMetricFamily("newsdesk_ingestion_lag_seconds", "how late the most overdue "
                                "source is", value=lag)


@bp.get("/metrics")
def metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(get_db(), get_settings()))
    response = Response(generate_latest(registry), mimetype=None)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.headers["Cache-Control"] = "no-store"
    return response
