"""Editors' changes to sources and topic rules (tables `editor_sources`, `editor_topic_rules`).

Ingestion reads these: a source with `paused` is not fetched; `interval_minutes` and `topics`
replace the ones in feeds/*.yaml; `fetch_requested_at` later than the last fetch makes it due
now; `added` sources are fetched like the configured ones.  A topic rule here replaces the rule
of the same topic in feeds/*.yaml.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.editors import SourceSettings
from app.record import dump_yaml, load_yaml
from app.store.db import serialize
from app.store.models import EditorSourceRow, TopicRow, TopicRuleRow
from app.store.repository import from_db_time, to_db_time
from app.topicrules import TopicRule, rule_from_mapping


def _settings(row: EditorSourceRow) -> SourceSettings:
    topics = load_yaml(row.topics) if row.topics else None
    return SourceSettings(
        url=row.url, name=row.name, added=row.added, paused=row.paused,
        interval_minutes=row.interval_minutes,
        topics=tuple(str(t) for t in topics) if isinstance(topics, list) else None,
        fetch_requested_at=from_db_time(row.fetch_requested_at),
        updated_at=from_db_time(row.updated_at), updated_by=row.updated_by)


class EditorSettingsRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------------ sources

    def sources(self) -> list[SourceSettings]:
        rows = self.session.execute(select(EditorSourceRow).order_by(EditorSourceRow.url))
        return [_settings(r) for r in rows.scalars()]

    def source(self, url: str) -> SourceSettings | None:
        row = self._row(url)
        return _settings(row) if row is not None else None

    def _row(self, url: str) -> EditorSourceRow | None:
        return self.session.execute(select(EditorSourceRow).where(
            EditorSourceRow.url == url)).scalar_one_or_none()

    def change_source(self, url: str, *, by: str, now: datetime, **changes: Any) -> bool:
        """Record editors' changes to a source (creating its row); True if anything changed.
        `topics` is a tuple of names or None (None: use the configured topics)."""
        serialize(self.session)
        row = self._row(url)
        if row is None:
            row = EditorSourceRow(url=url, added=False, paused=False,
                                  updated_at=to_db_time(now), updated_by=by)
            self.session.add(row)
        changed = False
        for key, value in changes.items():
            if key == "topics":
                value = dump_yaml(list(value)) if value is not None else None
            elif key == "fetch_requested_at":
                value = to_db_time(value)
            if getattr(row, key) != value:
                setattr(row, key, value)
                changed = True
        if changed:
            row.updated_at, row.updated_by = to_db_time(now), by  # type: ignore[assignment]
        self.session.flush()
        return changed

    def fetch_done(self, url: str, *, asked_at: datetime) -> None:
        """A "fetch now" request made at `asked_at` (or before) is done."""
        self.session.execute(update(EditorSourceRow).where(
            EditorSourceRow.url == url,
            EditorSourceRow.fetch_requested_at <= to_db_time(asked_at))
            .values(fetch_requested_at=None))

    # ------------------------------------------------------------------ topic rules

    def topic_rules(self) -> dict[str, TopicRule]:
        rows = self.session.execute(select(TopicRuleRow).order_by(TopicRuleRow.topic))
        return {r.topic: rule_from_mapping(r.topic, load_yaml(r.rule)) for r in rows.scalars()}

    def save_topic_rule(self, rule: TopicRule, *, by: str, now: datetime) -> None:
        serialize(self.session)
        row = self.session.get(TopicRuleRow, rule.topic)
        text = dump_yaml(rule.as_mapping())
        if row is None:
            self.session.add(TopicRuleRow(topic=rule.topic, rule=text,
                                          updated_at=to_db_time(now), updated_by=by))
        else:
            row.rule, row.updated_by = text, by
            row.updated_at = to_db_time(now)  # type: ignore[assignment]
        self.session.flush()

    def topic_names(self) -> list[str]:
        """Topics that records use, and topics that have an editor's rule."""
        names = set(self.session.execute(select(TopicRow.name)).scalars())
        names |= set(self.session.execute(select(TopicRuleRow.topic)).scalars())
        return sorted(names, key=str.lower)
