"""What editors ask for, checked before anything is touched: record edits, queue filters,
decisions on records, source changes.  Pure: every function takes plain values (form fields
or JSON) and returns frozen dataclasses, or raises EditError naming the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from app.errors import EditError
from app.record import xml_safe
from app.topicrules import TopicRule

MAX_TITLE = 500
MAX_EXCERPT = 5000
MAX_NOTES = 10000
MAX_TOPICS = 20
MAX_TOPIC = 100
MAX_BULK = 500
ID_RX = re.compile(r"^[0-9a-f]{16}$")

Action = Literal["publish", "unpublish", "hide"]
ACTIONS: tuple[Action, ...] = ("publish", "unpublish", "hide")
# what each decision means for the record's `published` flag
PUBLISHED_BY_STATE: dict[str, bool] = {"published": True, "unpublished": False, "hidden": False}
STATE_BY_ACTION: dict[Action, str] = {"publish": "published", "unpublish": "unpublished",
                                      "hide": "hidden"}
QUEUE_STATES = ("queue", "published", "unpublished", "hidden", "all")
SORTS = ("newest", "best")


@dataclass(frozen=True)
class RecordChanges:
    """The fields an editor may change.  None means "leave as it is"."""

    title: str | None = None
    excerpt: str | None = None
    topics: tuple[str, ...] | None = None
    notes: str | None = None

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in (("title", self.title), ("excerpt", self.excerpt),
                                  ("topics", self.topics), ("notes", self.notes))
                if v is not None}


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise EditError("expected text", field=field)
    if "\x00" in value:
        raise EditError("contains a NUL character", field=field)
    return xml_safe(value)       # control characters would reach RSS and Atom (issue 15)


def clean_title(value: object) -> str:
    """A title is one line of plain text: HTML in it is kept as the characters typed (and
    shown escaped), runs of whitespace become one space."""
    title = " ".join(_text(value, "title").split())
    if not title:
        raise EditError("the title must not be empty", field="title")
    if len(title) > MAX_TITLE:
        raise EditError(f"the title has {len(title)} characters; at most {MAX_TITLE} are "
                        "allowed", field="title")
    return title


def _clean_block(value: object, field: str, limit: int, subject: str) -> str:
    """Multi-line plain text with Unix line ends, at most `limit` characters."""
    text = _text(value, field).replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > limit:
        raise EditError(f"{subject} {len(text)} characters; at most {limit} are allowed",
                        field=field)
    return text


def clean_excerpt(value: object) -> str:
    return _clean_block(value, "excerpt", MAX_EXCERPT, "the excerpt has")


def clean_notes(value: object) -> str:
    return _clean_block(value, "notes", MAX_NOTES, "the notes have")


def clean_topics(value: object) -> tuple[str, ...]:
    """Topics from a list, or from text with one topic per line or comma-separated."""
    if isinstance(value, str):
        items: list[object] = re.split(r"[\n,]", value)
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise EditError("expected a list of topic names", field="topics")
    topics: list[str] = []
    for item in items:
        name = " ".join(_text(item, "topics").split())
        if not name:
            continue
        if len(name) > MAX_TOPIC:
            raise EditError(f"the topic {name[:40]!r}… is longer than {MAX_TOPIC} characters",
                            field="topics")
        if name.lower() not in (t.lower() for t in topics):
            topics.append(name)
    if len(topics) > MAX_TOPICS:
        raise EditError(f"{len(topics)} topics; at most {MAX_TOPICS} are allowed",
                        field="topics")
    return tuple(topics)


def changes_from(data: Mapping[str, Any]) -> RecordChanges:
    """RecordChanges from form fields or a JSON object (only the keys present change)."""
    unknown = sorted(set(data) - {"title", "excerpt", "topics", "notes", "version", "id",
                                  "csrf_token"})
    if unknown:
        raise EditError(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    return RecordChanges(
        title=clean_title(data["title"]) if "title" in data else None,
        excerpt=clean_excerpt(data["excerpt"]) if "excerpt" in data else None,
        topics=clean_topics(data["topics"]) if "topics" in data else None,
        notes=clean_notes(data["notes"]) if "notes" in data else None)


def clean_ids(values: object) -> list[str]:
    """Record ids for a (bulk) action: at least one, at most MAX_BULK, each well formed."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)):
        raise EditError("expected a list of record ids", field="ids")
    ids: list[str] = []
    for value in values:
        if not isinstance(value, str) or not ID_RX.match(value):
            shown = str(value)[:40]
            raise EditError(f"{shown!r} is not a record id", field="ids", status=404)
        if value not in ids:
            ids.append(value)
    if not ids:
        raise EditError("select at least one record", field="ids")
    if len(ids) > MAX_BULK:
        raise EditError(f"{len(ids)} records selected; at most {MAX_BULK} at once",
                        field="ids")
    return ids


def clean_action(value: object) -> Action:
    for action in ACTIONS:
        if value == action:
            return action
    raise EditError(f"unknown action {str(value)[:40]!r}; use publish, unpublish or hide",
                    field="action")


# --------------------------------------------------------------------------- queue

@dataclass(frozen=True)
class QueueFilter:
    state: str = "queue"
    topic: str = ""
    source: str = ""
    provider: str = ""
    min_quality: int | None = None
    text: str = ""
    sort: str = "newest"
    page: int = 1
    per_page: int = 50


def queue_filter(args: Mapping[str, Any]) -> QueueFilter:
    """A QueueFilter from query parameters; an unknown state or sort, or a quality or page
    that is not a number, is an error naming the parameter."""
    def number(name: str, low: int, high: int) -> int | None:
        raw = str(args.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit():
            raise EditError(f"expected a whole number, got {raw[:20]!r}", field=name)
        return max(low, min(high, int(raw)))

    def one_of(name: str, values: tuple[str, ...]) -> str:
        raw = str(args.get(name) or values[0])
        if raw not in values:
            raise EditError(f"unknown {name} {raw[:40]!r}; use one of {', '.join(values)}",
                            field=name)
        return raw

    state, sort = one_of("state", QUEUE_STATES), one_of("sort", SORTS)
    return QueueFilter(
        state=state,
        topic=str(args.get("topic") or "").strip()[:MAX_TOPIC],
        source=str(args.get("source") or "").strip()[:2000],
        provider=str(args.get("provider") or "").strip()[:255],
        min_quality=number("quality", 0, 1_000_000),
        text=" ".join(str(args.get("q") or "").split())[:200],
        sort=sort,
        page=number("page", 1, 100_000) or 1,
        per_page=number("per_page", 1, 200) or 50)


# --------------------------------------------------------------------------- sources

@dataclass(frozen=True)
class SourceHealth:
    """What ingestion knows of a source's fetches."""

    last_fetch_at: datetime | None = None
    status: str = ""
    error_count: int = 0
    last_error: str = ""
    next_due_at: datetime | None = None
    disabled: bool = False         # after a 410 or too many failures in a row
    disabled_reason: str = ""
    lease_owner: str = ""          # the worker fetching it now (issue 16), and until when
    lease_until: datetime | None = None


@dataclass(frozen=True)
class ConfiguredSource:
    """A source as listed in feeds/*.yaml (ingestion's loader provides these)."""

    url: str
    name: str = ""
    interval_minutes: int | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceSettings:
    """Editors' changes to one source (the `editor_sources` table)."""

    url: str
    name: str | None = None
    added: bool = False
    paused: bool = False
    interval_minutes: int | None = None
    topics: tuple[str, ...] | None = None
    fetch_requested_at: datetime | None = None
    updated_at: datetime | None = None
    updated_by: str = ""


@dataclass(frozen=True)
class SourceView:
    """One line of the sources page: configuration, editors' changes and health merged."""

    url: str
    name: str
    interval_minutes: int | None
    topics: tuple[str, ...]
    paused: bool
    added: bool
    fetch_requested_at: datetime | None
    health: SourceHealth | None


def added_source_name(s: SourceSettings) -> str:
    """What a source an editor added is called: the name given, else its URL's host."""
    return s.name or (urlsplit(s.url).hostname or s.url).lower()


def merge_sources(configured: list[ConfiguredSource], settings: list[SourceSettings],
                  health: Mapping[str, SourceHealth]) -> list[SourceView]:
    by_url = {s.url: s for s in settings}
    views: list[SourceView] = []
    seen: set[str] = set()
    for conf in configured:
        s = by_url.get(conf.url)
        seen.add(conf.url)
        views.append(SourceView(
            url=conf.url, name=(s.name if s and s.name else conf.name) or conf.url,
            interval_minutes=(s.interval_minutes if s and s.interval_minutes
                              else conf.interval_minutes),
            topics=s.topics if s and s.topics is not None else conf.topics,
            paused=bool(s and s.paused), added=False,
            fetch_requested_at=s.fetch_requested_at if s else None,
            health=health.get(conf.url)))
    for s in settings:
        if s.url in seen or not s.added:
            continue
        views.append(SourceView(url=s.url, name=added_source_name(s),
                                interval_minutes=s.interval_minutes, topics=s.topics or (),
                                paused=s.paused, added=True,
                                fetch_requested_at=s.fetch_requested_at,
                                health=health.get(s.url)))
    return sorted(views, key=lambda v: (v.name.lower(), v.url))


MIN_INTERVAL, MAX_INTERVAL = 5, 7 * 24 * 60


def clean_interval(value: object) -> int | None:
    raw = str(value if value is not None else "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise EditError(f"expected minutes as a whole number, got {raw[:20]!r}",
                        field="interval")
    minutes = int(raw)
    if not MIN_INTERVAL <= minutes <= MAX_INTERVAL:
        raise EditError(f"the interval must be between {MIN_INTERVAL} and {MAX_INTERVAL} "
                        "minutes", field="interval")
    return minutes


def clean_source_url(value: object) -> str:
    url = _text(value, "url").strip()
    if not url:
        raise EditError("give the feed's URL", field="url")
    if len(url) > 2000:
        raise EditError("the URL is longer than 2000 characters", field="url")
    if not re.match(r"^https?://[^\s/]+", url, re.IGNORECASE) or any(c.isspace() for c in url):
        raise EditError("expected an http:// or https:// URL without spaces", field="url")
    return url


class SourceCatalog(Protocol):
    """What ingestion tells the editor pages about sources and topics.  The app takes it from
    the NEWSDESK_SOURCE_CATALOG config value (app/catalog.py's by default); without one, only
    editor-added sources show.  A method may raise ConfigError when feeds/ does not load."""

    def configured(self) -> list[ConfiguredSource]: ...

    def health(self) -> Mapping[str, SourceHealth]: ...

    def topic_rules(self) -> Mapping[str, TopicRule]: ...

    def topic_names(self) -> list[str]: ...


class EmptyCatalog:
    def configured(self) -> list[ConfiguredSource]:
        return []

    def health(self) -> Mapping[str, SourceHealth]:
        return {}

    def topic_rules(self) -> Mapping[str, TopicRule]:
        return {}

    def topic_names(self) -> list[str]:
        return []
