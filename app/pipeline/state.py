"""The bookkeeping of a source after a fetch (pure; the clock and the randomness passed in).

    ok / not_modified  errors reset, next due after the interval
    moved (301/308)    the stored URL becomes the new one
    gone (410)         the source is disabled, with the reason
    retry_later        429/503: next due after Retry-After, clamped to [RETRY_MIN, RETRY_MAX]
    error              one more failure in a row: exponential back-off with jitter, and the
                       source is disabled after `max_failures` failures in a row
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.pipeline.fetch import FetchResult

RETRY_MIN = 60.0
RETRY_MAX = 24 * 3600.0
BACKOFF_MAX = 24 * 3600.0


@dataclass(frozen=True)
class SourceState:
    name: str
    url: str                       # where the source is fetched now (moves with 301/308)
    config_url: str                # the URL written in feeds/
    etag: str | None = None
    last_modified: str | None = None
    last_status: str | None = None
    error_count: int = 0
    last_error: str | None = None
    disabled: bool = False
    disabled_reason: str | None = None
    next_due_at: datetime | None = None
    last_fetched_at: datetime | None = None
    last_success_at: datetime | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None

    def is_due(self, now: datetime) -> bool:
        return not self.disabled and (self.next_due_at is None or self.next_due_at <= now)


def backoff_seconds(failures: int, interval: float, rng: random.Random) -> float:
    base = min(max(interval, 60.0) * 2 ** max(failures - 1, 0), BACKOFF_MAX)
    return base * rng.uniform(0.75, 1.25)


def after_fetch(state: SourceState, result: FetchResult, *, now: datetime, interval: float,
                max_failures: int, rng: random.Random, parse_error: str | None = None
                ) -> SourceState:
    """The state of a source after `result` (and, for a 200, after parsing its body)."""
    status = str(result.status) if result.status is not None else "no answer"
    url = result.moved_to or state.url
    new = replace(state, url=url, last_fetched_at=now, last_status=status)
    if result.kind in ("ok", "not_modified") and parse_error is None:
        return replace(new, etag=result.etag if result.kind == "ok" else state.etag,
                       last_modified=(result.last_modified if result.kind == "ok"
                                      else state.last_modified),
                       error_count=0, last_error=None, last_success_at=now,
                       disabled=False, disabled_reason=None,
                       next_due_at=now + timedelta(seconds=interval * rng.uniform(0.95, 1.05)))
    if result.kind == "gone":
        return replace(new, disabled=True, disabled_reason=result.error,
                       last_error=result.error, next_due_at=None)
    if result.kind == "retry_later":
        wait = result.retry_after if result.retry_after is not None else backoff_seconds(
            state.error_count + 1, interval, rng)
        wait = min(max(wait, RETRY_MIN), RETRY_MAX)
        return replace(new, last_error=result.error,
                       next_due_at=now + timedelta(seconds=wait))
    error = parse_error or result.error or "unknown error"
    failures = state.error_count + 1
    new = replace(new, error_count=failures, last_error=error,
                  next_due_at=now + timedelta(seconds=backoff_seconds(failures, interval, rng)))
    if failures >= max_failures:
        return replace(new, disabled=True, next_due_at=None,
                       disabled_reason=f"{failures} failures in a row; last: {error}")
    return new
