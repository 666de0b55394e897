"""The editor pages' view of ingestion (the `SourceCatalog` of app/editors.py): the sources and
topic rules of feeds/, and each source's health from the state that passes keep.

feeds/ is read again on every call, so the pages show an edit at once; a file that fails to load
raises its ConfigError, which the pages show instead of the sources it would have listed.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.config import Settings
from app.editors import ConfiguredSource, SourceHealth
from app.pipeline.state import SourceState
from app.sources import FeedConfig, load_feeds
from app.store.db import Database
from app.store.repository import IngestRepository
from app.topicrules import TopicRule


def source_health(state: SourceState) -> SourceHealth:
    return SourceHealth(last_fetch_at=state.last_fetched_at,
                        status=f"HTTP {state.last_status}" if (state.last_status or "").isdigit()
                        else state.last_status or "",
                        error_count=state.error_count, last_error=state.last_error or "",
                        next_due_at=state.next_due_at, disabled=state.disabled,
                        disabled_reason=state.disabled_reason or "",
                        lease_owner=state.lease_owner or "", lease_until=state.lease_until)


class IngestCatalog:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings

    def feeds(self) -> FeedConfig:
        return load_feeds(self.settings.feeds)

    def configured(self) -> list[ConfiguredSource]:
        default = self.settings.fetch_interval
        return [ConfiguredSource(url=s.url, name=s.name,
                                 interval_minutes=max(1, (s.interval or default) // 60),
                                 topics=s.topics)
                for s in self.feeds().sources]

    def health(self) -> Mapping[str, SourceHealth]:
        """By the URL a source is known by (its feeds/ URL, or the one an editor added)."""
        with self.db.session() as session:
            states = IngestRepository(session).states()
        return {state.config_url: source_health(state) for state in states}

    def topic_rules(self) -> Mapping[str, TopicRule]:
        return {t.name: TopicRule.from_feed_rule(t.name, t.rule)
                for t in self.feeds().topics if not t.rule.empty}

    def topic_names(self) -> list[str]:
        """The topics of feeds/ (issue 20: an OPML folder of that name is a default topic)."""
        return [t.name for t in self.feeds().topics]
