"""Editors' changes applied to the configuration of feeds/ (pure): what a pass follows.

Editors keep their changes in the database (app/store/editor_settings.py), keyed by a source's
feed URL.  For a source of feeds/: `paused` stops its fetches, `interval_minutes` replaces its
interval, `topics` replace its default topics, and a "fetch now" request makes it due at the next
pass.  A source an editor added by URL is followed like one of feeds/, named by the editor or by
its URL's host; it is marked `added`, so that auto-publish rules leave its records alone unless a
rule names it.  An editor's rule for a topic replaces that topic's rule of feeds/ (or adds the
topic).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from urllib.parse import urlsplit

from app.editors import SourceSettings, added_source_name
from app.record import slugify
from app.sources import SEARCH_HOSTS, FeedConfig, FeedSource, Topic
from app.topicrules import TopicRule


@dataclass(frozen=True)
class FetchRequest:
    url: str                       # the editor_sources key
    at: datetime


@dataclass(frozen=True)
class SourcePlan:
    config: FeedConfig
    requested: Mapping[str, FetchRequest] = field(default_factory=dict)   # by source name


def _changed(source: FeedSource, s: SourceSettings) -> FeedSource:
    return replace(source, enabled=source.enabled and not s.paused,
                   interval=s.interval_minutes * 60 if s.interval_minutes else source.interval,
                   topics=s.topics if s.topics is not None else source.topics)


def _added(s: SourceSettings, taken: set[str]) -> FeedSource:
    host = (urlsplit(s.url).hostname or s.url).lower()
    name = added_source_name(s)
    if name in taken:
        name = f"{name} ({s.url})"
    return FeedSource(name=name, url=s.url, topics=s.topics or (),
                      interval=s.interval_minutes * 60 if s.interval_minutes else None,
                      enabled=not s.paused, kind="search" if host in SEARCH_HOSTS else "publisher",
                      added=True)


def _topics(topics: tuple[Topic, ...], rules: Mapping[str, TopicRule]) -> tuple[Topic, ...]:
    out = [replace(t, rule=rules[t.name].as_feed_rule()) if t.name in rules else t
           for t in topics]
    known = {t.name for t in topics}
    out += [Topic(name, slugify(name) or "topic", None, rule.as_feed_rule())
            for name, rule in sorted(rules.items()) if name not in known and rule.phrases]
    return tuple(out)


def apply_editor_changes(config: FeedConfig, settings: Iterable[SourceSettings],
                         rules: Mapping[str, TopicRule]) -> SourcePlan:
    by_url = {s.url: s for s in settings}
    sources = [_changed(src, by_url[src.url]) if src.url in by_url else src
               for src in config.sources]
    configured = {src.url for src in config.sources}
    taken = {src.name for src in sources}
    for s in by_url.values():
        if s.added and s.url not in configured:
            sources.append(_added(s, taken))
            taken.add(sources[-1].name)
    requested = {}
    for src in sources:
        asked = by_url[src.url].fetch_requested_at if src.url in by_url else None
        if asked is not None:
            requested[src.name] = FetchRequest(src.url, asked)
    return SourcePlan(replace(config, sources=tuple(sources),
                              topics=_topics(config.topics, rules)), requested)
