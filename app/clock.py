"""The one clock of Newsdesk.

Every command, job and page asks `settings.clock()` for "now" (a timezone-aware UTC datetime);
nothing else reads the wall clock for the time of the news. Tests fix the clock by building
`Settings(..., clock=fixed(NOW))`, and `newsdesk` reads `NEWSDESK_NOW` (an ISO 8601 instant) as a
frozen clock, so a command can be replayed as of a given moment.

Durations and deadlines (a fetch that may take 60 s) are measured with `time.monotonic()`: they
are about elapsed time, not about what time it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock, in UTC: the default clock of a running service."""
    return datetime.now(UTC)


def fixed(instant: datetime) -> Clock:
    """A clock that always answers `instant` (which must be timezone-aware)."""
    if instant.tzinfo is None:
        raise ValueError("a fixed clock needs a timezone-aware instant")
    frozen = instant.astimezone(UTC)
    return lambda: frozen


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant (`2026-11-25T12:00:00Z`, or with an offset) as an aware UTC datetime."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone (add Z for UTC)")
    return value.astimezone(UTC)
