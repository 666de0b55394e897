"""Whether a pass would fetch anything, told cheaply (issue 19).

`newsdesk fetch` runs from cron every few minutes, and most of those runs find nothing due.  The
pass itself (app/ingest.py) imports SQLAlchemy, httpx, feedparser and the parsing stages before it
can tell; this module tells with the standard library's sqlite3, read-only, in a handful of
queries, and answers with the same summary the pass would print.

It answers only when it is sure; None means "run the pass", which then decides as always:
  - the database is not SQLite in a file, cannot be opened, or is not at the head of migrations/
  - an editor asked for a fetch ("fetch now")
  - a source of feeds/ or one an editor added has no row yet, or its URL in feeds/ changed
  - an enabled source is due, or records wait for the search index
Editors' paused and added sources are followed as app/pipeline/overrides.py follows them; the
tests run both ways on the same database and compare the lines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import quote, urlsplit

from app.pass_summary import PassSummary
from app.store.schema import migration_head


class Source(Protocol):
    """What this module needs of a source of feeds/ (app.sources.FeedSource)."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def enabled(self) -> bool: ...


@dataclass(frozen=True)
class FollowedSource:
    """A source as a pass would follow it: its name, feed URL and whether it is enabled."""

    name: str
    url: str
    enabled: bool


def _sqlite_path(url: str) -> str | None:
    """The file of a plain `sqlite:///path` URL; None for anything else (other databases,
    memory, URLs with options)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = url[len(prefix):]
    return path if path and path != ":memory:" and not path.startswith("file:") else None


def _time(value: object) -> datetime | None:
    """A stored (naive UTC) time; None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _followed(configured: Sequence[Source],
              editors: Sequence[tuple[str, str | None, bool, bool]]) -> list[FollowedSource]:
    """Sources of feeds/ with editors' pauses, then the sources editors added, named as
    app/pipeline/overrides.py names them.  `editors`: (url, name, added, paused) rows."""
    paused = {url: bool(p) for url, _name, _added, p in editors}
    sources = [FollowedSource(s.name, s.url, s.enabled and not paused.get(s.url, False))
               for s in configured]
    urls = {s.url for s in configured}
    taken = {s.name for s in sources}
    for url, name, added, is_paused in editors:
        if added and url not in urls:
            shown = name or (urlsplit(url).hostname or url).lower()
            if shown in taken:
                shown = f"{shown} ({url})"
            sources.append(FollowedSource(shown, url, not is_paused))
            taken.add(shown)
    return sources


def idle_summary(database_url: str, configured: Sequence[Source],
                 now: datetime) -> PassSummary | None:
    """The summary of a pass at `now` that would fetch nothing, or None when a pass may have
    something to do (or this cannot tell)."""
    path = _sqlite_path(database_url)
    if path is None or not Path(path).is_file():
        return None
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        return _look(connection, configured, now)
    except sqlite3.Error:          # an old schema, a locked file: the pass knows what to do
        return None
    finally:
        connection.close()


def _look(connection: sqlite3.Connection, configured: Sequence[Source],
          now: datetime) -> PassSummary | None:
    head = migration_head()
    stamped = [r[0] for r in connection.execute("SELECT version_num FROM alembic_version")]
    if head is None or stamped != [head]:
        return None
    if connection.execute("SELECT EXISTS (SELECT 1 FROM records_fts_queue)").fetchone()[0]:
        return None
    editors = connection.execute(
        "SELECT url, name, added, paused, fetch_requested_at FROM editor_sources "
        "ORDER BY url").fetchall()
    if any(row[4] is not None for row in editors):
        return None
    states = {name: (config_url, disabled, next_due) for name, config_url, disabled, next_due
              in connection.execute(
                  "SELECT name, config_url, disabled, next_due_at FROM feed_sources")}
    summary = PassSummary()
    for source in _followed(configured, [(u, n, bool(a), bool(p)) for u, n, a, p, _ in editors]):
        state = states.get(source.name)
        if state is None or state[0] != source.url:
            return None                  # a new or changed source: due at once
        _config_url, disabled, next_due = state
        if not source.enabled or disabled:
            continue
        due_at = _time(next_due)
        if due_at is None or due_at <= now:
            return None
        summary.not_due += 1
        summary.next_due = due_at if summary.next_due is None else min(summary.next_due, due_at)
    return summary
