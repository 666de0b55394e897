"""Workers on one database (issue 16): heartbeats, lease renewal, enrichment leases, and what
/healthz and /metrics read.

A worker id (`host:pid:random`) is stable for its process.  Each heartbeat writes the worker's
row and pushes the end of every lease it holds (sources and article pages) to now +
NEWSDESK_LEASE_TIMEOUT: a worker that stops beating (killed, its host gone, its database
connection lost) loses them within that time, on whatever host it ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, false, func, or_, select, update
from sqlalchemy.orm import Session

from app.store.models import (
    EnrichmentLeaseRow,
    EnrichmentStateRow,
    FeedSourceRow,
    RecordRow,
    WorkerHeartbeatRow,
)
from app.store.repository import from_db_time, to_db_time

COUNTERS = ("sources_fetched", "sources_not_modified", "sources_failed", "records_new",
            "fetches_avoided", "leases_taken_over")


@dataclass(frozen=True)
class WorkerView:
    id: str
    host: str
    pid: int
    started_at: datetime
    beat_at: datetime
    last_pass_at: datetime | None
    last_error: str | None
    stopped: bool


class WorkerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------------ heartbeats

    def beat(self, worker: str, *, host: str, pid: int, now: datetime, until: datetime,
             config_hash: str | None = None) -> int:
        """The worker's row written, its leases renewed until `until`; returns how many
        leases it holds."""
        at = to_db_time(now) or now
        row = self.session.get(WorkerHeartbeatRow, worker)
        if row is None:
            self.session.add(WorkerHeartbeatRow(
                id=worker, host=host, pid=pid, started_at=at, beat_at=at,
                config_hash=config_hash, stopped=False, passes=0, pass_seconds=0.0,
                **dict.fromkeys(COUNTERS, 0)))
        else:
            row.beat_at, row.stopped = at, False
            if config_hash:
                row.config_hash = config_hash
        return self.renew(worker, until)

    def renew(self, worker: str, until: datetime) -> int:
        end = to_db_time(until)
        sources = self.session.execute(
            update(FeedSourceRow).where(FeedSourceRow.lease_owner == worker)
            .values(lease_until=end).execution_options(synchronize_session=False))
        pages = self.session.execute(
            update(EnrichmentLeaseRow).where(EnrichmentLeaseRow.owner == worker)
            .values(lease_until=end).execution_options(synchronize_session=False))
        return int(sources.rowcount) + int(pages.rowcount)  # type: ignore[attr-defined]

    def passed(self, worker: str, *, now: datetime, seconds: float, error: str | None,
               counts: dict[str, int]) -> None:
        """A pass finished (error None) or failed (its reason)."""
        row = self.session.get(WorkerHeartbeatRow, worker)
        if row is None:
            return
        if error is None:
            row.last_pass_at = to_db_time(now)
            row.passes += 1
            row.pass_seconds += seconds
            row.last_pass_seconds = seconds
        row.last_error = error
        for name in COUNTERS:
            setattr(row, name, getattr(row, name) + int(counts.get(name, 0)))

    def stopped(self, worker: str) -> None:
        """A worker that stops: it is shown stopped and gives up every lease it holds."""
        self.session.execute(update(WorkerHeartbeatRow).where(WorkerHeartbeatRow.id == worker)
                             .values(stopped=True))
        self.release_all(worker)

    def release_all(self, worker: str) -> None:
        self.session.execute(update(FeedSourceRow).where(FeedSourceRow.lease_owner == worker)
                             .values(lease_owner=None, lease_until=None)
                             .execution_options(synchronize_session=False))
        self.session.execute(delete(EnrichmentLeaseRow).where(EnrichmentLeaseRow.owner == worker)
                             .execution_options(synchronize_session=False))

    def workers(self) -> list[WorkerView]:
        rows = self.session.execute(select(WorkerHeartbeatRow).order_by(
            WorkerHeartbeatRow.started_at)).scalars()
        return [WorkerView(r.id, r.host, r.pid, from_db_time(r.started_at) or r.started_at,
                           from_db_time(r.beat_at) or r.beat_at, from_db_time(r.last_pass_at),
                           r.last_error, bool(r.stopped)) for r in rows]

    def forget_older_than(self, when: datetime) -> None:
        """Heartbeat rows of workers gone before `when` (a day of restarts stays visible)."""
        self.session.execute(delete(WorkerHeartbeatRow).where(
            WorkerHeartbeatRow.beat_at < to_db_time(when)))

    # ------------------------------------------------------------------ enrichment leases

    def lease_pages(self, ids: Sequence[str], worker: str, *, now: datetime, until: datetime,
                    due_only: bool) -> list[str]:
        """Of `ids`, the records whose page this worker may read now: none other holds them
        (an expired lease is taken over) and, with `due_only`, they still wait for enrichment
        (another worker may have read the page since they were selected).  One statement per
        record: INSERT, or take over an expired lease, atomically."""
        at, end = to_db_time(now), to_db_time(until)
        held = []
        for rid in ids:
            if due_only and not self._page_due(rid, at):
                continue
            if self._claim(rid, worker, at, end):
                held.append(rid)
        return held

    def _page_due(self, rid: str, at: datetime | None) -> bool:
        S = EnrichmentStateRow
        state = self.session.execute(select(S.state, S.next_attempt_at).where(
            S.record_id == rid)).first()
        if state is None:
            return self.session.get(RecordRow, rid) is not None
        return bool(state[0] == "retry" and state[1] is not None and at is not None
                    and state[1] <= at)

    def _claim(self, rid: str, worker: str, at: datetime | None, end: datetime | None) -> bool:
        L = EnrichmentLeaseRow
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            ins: Any = pg_insert(L)
        else:
            from sqlalchemy.dialects.sqlite import insert as lite_insert
            ins = lite_insert(L)
        statement = ins.values(record_id=rid, owner=worker, lease_until=end)
        statement = statement.on_conflict_do_update(
            index_elements=[L.record_id],
            set_={"owner": worker, "lease_until": end},
            where=or_(L.lease_until < at, L.owner == worker)).returning(L.record_id)
        return self.session.execute(statement).first() is not None

    def release_page(self, rid: str, worker: str) -> None:
        self.session.execute(delete(EnrichmentLeaseRow).where(
            EnrichmentLeaseRow.record_id == rid, EnrichmentLeaseRow.owner == worker))

    # ------------------------------------------------------------------ the operator's view

    def overdue(self, now: datetime, grace: timedelta) -> tuple[int, float]:
        """(sources overdue by more than `grace`, seconds the oldest of them is late)."""
        F = FeedSourceRow
        at = to_db_time(now)
        late = to_db_time(now - grace)
        count, oldest = self.session.execute(select(func.count(), func.min(F.next_due_at)).where(
            F.disabled == false(), F.next_due_at.is_not(None), F.next_due_at < late)).one()
        lag = (at - oldest).total_seconds() if oldest is not None and at is not None else 0.0
        return int(count), max(0.0, lag)

    def leases(self, now: datetime) -> tuple[int, int]:
        """(source and page leases held, of them expired)."""
        at = to_db_time(now)
        F, L = FeedSourceRow, EnrichmentLeaseRow
        held = self.session.execute(select(func.count()).where(F.lease_owner.is_not(None))
                                    ).scalar_one()
        held += self.session.execute(select(func.count()).select_from(L)).scalar_one()
        expired = self.session.execute(select(func.count()).where(
            F.lease_owner.is_not(None), F.lease_until < at)).scalar_one()
        expired += self.session.execute(select(func.count()).where(L.lease_until < at)
                                        ).scalar_one()
        return int(held), int(expired)

    def enrichment_backlog(self, now: datetime) -> int:
        S = EnrichmentStateRow
        at = to_db_time(now)
        query = select(func.count()).select_from(RecordRow).outerjoin(
            S, S.record_id == RecordRow.id).where(or_(
                S.record_id.is_(None), and_(S.state == "retry", S.next_attempt_at <= at)))
        return int(self.session.execute(query).scalar_one())

    def totals(self) -> dict[str, float]:
        W = WorkerHeartbeatRow
        columns = [func.coalesce(func.sum(getattr(W, c)), 0) for c in
                   ("passes", "pass_seconds", *COUNTERS)]
        values = self.session.execute(select(*columns)).one()
        return dict(zip(("passes", "pass_seconds", *COUNTERS), map(float, values), strict=True))
