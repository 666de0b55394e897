"""Story intelligence over the database: `related` lists of new records and `heat` of every
recent story.  The judgements themselves are pure (relate.py, score.py); this module loads the
records of a window of days, applies them and writes back only what changed.

    relate_records(db, ids, now)      new records get their related lists; the records they
                                      relate to get the new ones in theirs
    recompute_heat(db, now, keyring)  every story of the last HEAT_SCOPE days gets its heat
                                      (one heat per cluster); older stories cool to 0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.config import Settings
from app.pipeline.grouping import connected
from app.pipeline.relate import MAX_RELATED, StoryIndex, related_entries
from app.pipeline.score import StoryMember, compute_heat
from app.record import Record, Related
from app.secured import Keyring, heat_boost
from app.store.db import Database
from app.store.repository import EnrichmentRepository, RecordRepository

RELATE_WINDOW_DAYS = 3
HEAT_SCOPE = timedelta(days=7)

__all__ = ["HeatReport", "recompute_heat", "refresh_heat", "relate_records", "story_clusters"]


def _window(db: Database, start: datetime, end: datetime) -> dict[str, Record]:
    with db.session() as session:
        ids = EnrichmentRepository(session).ids_published_between(start, end)
        return {r.id: r for r in RecordRepository(session).get_many(ids)}


def _index(records: Iterable[Record]) -> StoryIndex:
    index = StoryIndex(window_days=RELATE_WINDOW_DAYS)
    for record in sorted(records, key=lambda r: (r.published_at, r.id)):
        index.index_record(record)
    return index


def relate_records(db: Database, ids: Sequence[str], now: datetime) -> int:
    """Write `related` for the records `ids` and for the records they match; returns how many
    records changed.  Cost: the records of the window around the new ones, not the database."""
    with db.session() as session:
        new = RecordRepository(session).get_many(list(ids))
    if not new:
        return 0
    span = timedelta(days=RELATE_WINDOW_DAYS + 1)
    records = _window(db, min(r.published_at for r in new) - span,
                      max(r.published_at for r in new) + span)
    records.update((r.id, r) for r in new)
    index = _index(records.values())
    todo = {r.id for r in new}
    for record in new:
        todo.update(m.record_id for m in index.query_record(record))
    changed = 0
    with db.session() as session:
        repo = RecordRepository(session)
        for rid in sorted(todo):
            record = records[rid]
            related = _merge(related_entries(record, index.query_record(record, MAX_RELATED),
                                             records), record.related, records)
            if related != record.related:
                repo.save(record.replace(related=related), now=now)
                changed += 1
    return changed


def _merge(found: tuple[Related, ...], before: tuple[Related, ...],
           window: dict[str, Record]) -> tuple[Related, ...]:
    """Our matches first; entries listed before that point outside the records we can judge
    (e.g. an imported record's links to stories this database never saw) are kept after them."""
    urls = {r.web_url for r in found}
    known = {r.web_url for r in window.values()}
    kept = [r for r in before if r.web_url not in urls and r.web_url not in known]
    return (*found, *kept)[:MAX_RELATED]


def story_clusters(records: Sequence[Record]) -> list[list[Record]]:
    """Records grouped by story: connected same-story matches (union-find)."""
    index = _index(records)
    same_story = ((record.id, match.record_id) for record in records
                  for match in index.query_record(record, limit=10) if match.same_story)
    return connected(records, lambda r: r.id, same_story)


@dataclass
class HeatReport:
    scored: int = 0
    changed: int = 0
    cooled: int = 0
    stories: int = 0

    def summary(self) -> str:
        return (f"{self.scored} records in {self.stories} stories scored, {self.changed} "
                f"changed, {self.cooled} older records cooled to 0")


def recompute_heat(db: Database, now: datetime, keyring: Keyring | None = None) -> HeatReport:
    """Heat of every story published in the last HEAT_SCOPE (editor boosts read from
    `secured` when a keyring is given); stories older than that cool to 0."""
    report = HeatReport()
    records = list(_window(db, now - HEAT_SCOPE, now + timedelta(hours=1)).values())
    updates: dict[str, tuple[Record, int]] = {}
    for cluster in story_clusters(records):
        members = [StoryMember.of(r, heat_boost(r, keyring) if keyring else 0) for r in cluster]
        heat = compute_heat(members, now)
        report.stories += 1
        for record in cluster:
            report.scored += 1
            if record.heat != heat:
                updates[record.id] = (record, heat)
    with db.session() as session:
        repo = EnrichmentRepository(session)
        for old in RecordRepository(session).get_many(
                repo.ids_with_heat_before(now - HEAT_SCOPE)):
            updates[old.id] = (old, 0)
            report.cooled += 1
        for record, heat in updates.values():
            if repo.replace_field(record, now=now, expected_secured=record.secured, heat=heat):
                report.changed += 1
    return report


def refresh_heat(db: Database, settings: Settings, now: datetime) -> HeatReport:
    """`recompute_heat` with the keyring of `settings` (editor boosts): the scheduler's job."""
    from app.keystore import load_keyring

    return recompute_heat(db, now, load_keyring(db, settings, now=now))
