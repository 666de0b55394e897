"""WebSub publisher pings (issue 20): tell the hub (NEWSDESK_WEBSUB_HUB) which feeds changed.

The worker runs `HubPinger.run` every few seconds.  It reads one token per public feed (the
feed of everything and each topic's: app/store/reader.py `public_feed_stamps`), and for each
feed whose token differs from the one last announced it sends the hub one
`hub.mode=publish` request naming the feed's RSS and Atom URLs.  So a publish, an unpublish or
a hide is announced by the next run, never by the editor's request; changes in between are
batched; a feed is announced at most once a minute; a failed ping is retried after 1, 2, 4 ...
minutes (at most an hour).  The first run only learns the tokens.  State is kept in memory:
after a restart, a change made while the worker was down is not announced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx

from app.config import Settings
from app.store.db import Database
from app.store.reader import public_feed_stamps

log = logging.getLogger(__name__)
MIN_GAP = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
TIMEOUT = 10.0


def feed_paths(slug: str) -> tuple[str, str]:
    prefix = f"/topics/{slug}" if slug else ""
    return f"{prefix}/feed.xml", f"{prefix}/atom.xml"


@dataclass
class FeedPing:
    announced: str                       # the token the hub last heard of
    next_at: datetime | None = None      # not before (the minute's gap, or the backoff)
    failures: int = 0


@dataclass
class PingReport:
    pinged: list[str] = field(default_factory=list)     # feed keys ("" is everything)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)    # changed, but within the gap

    def summary(self) -> str:
        return (f"{len(self.pinged)} feeds announced, {len(self.failed)} failed, "
                f"{len(self.waiting)} waiting")


class HubPinger:
    def __init__(self, db: Database, settings: Settings,
                 client: httpx.Client | None = None) -> None:
        self.db, self.settings = db, settings
        self.hub = settings.websub_hub.strip()
        self.base = settings.base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=TIMEOUT, follow_redirects=False,
                                             headers={"User-Agent": settings.user_agent})
        self.feeds: dict[str, FeedPing] | None = None

    def run(self, now: datetime) -> PingReport:
        report = PingReport()
        if not (self.hub and self.base):
            return report
        with self.db.session() as s:
            stamps = public_feed_stamps(s)
        if self.feeds is None:
            self.feeds = {key: FeedPing(token) for key, token in stamps.items()}
            return report
        for key in sorted(set(stamps) | set(self.feeds)):
            token = stamps.get(key, "")
            state = self.feeds.setdefault(key, FeedPing(""))
            if token == state.announced:
                continue
            if state.next_at is not None and now < state.next_at:
                report.waiting.append(key)
                continue
            if self._ping(key):
                state.announced, state.failures = token, 0
                state.next_at = now + MIN_GAP
                report.pinged.append(key)
            else:
                state.failures += 1
                state.next_at = now + min(MAX_BACKOFF, MIN_GAP * 2 ** (state.failures - 1))
                report.failed.append(key)
        return report

    def _ping(self, key: str) -> bool:
        urls = [self.base + path for path in feed_paths(key)]
        try:
            response = self.client.post(self.hub, data={"hub.mode": "publish",
                                                        "hub.url": urls})
        except httpx.HTTPError as exc:
            log.warning("WebSub: the hub %s did not take the ping of %s: %s", self.hub,
                        urls[0], exc)
            return False
        if not response.is_success:
            log.warning("WebSub: the hub %s answered %s to the ping of %s", self.hub,
                        response.status_code, urls[0])
            return False
        return True
