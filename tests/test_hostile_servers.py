"""Hostile servers (issue 15): a feed server on loopback that loops its redirects, answers a
gzip bomb, a body over the cap, an XML entity bomb, an external entity (XXE) or 240,000
`&lt;` in a description.  Each fetch ends as one failure naming the cause (never an
exception), and what is parsed and normalized stays bounded and inert.

Deadlines against servers that drip their headers or body: tests/test_net_deadline.py.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from app.pipeline.classify import Classifier
from app.pipeline.fetch import FetchLimits, fetch_feed, make_client
from app.pipeline.normalize import EXCERPT_LENGTH, normalize_feed
from app.pipeline.parse import parse_feed
from app.sources import FeedConfig, FeedSource
from tests.feedserver import FeedServer, Reply

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
LIMITS = FetchLimits(timeout=2.0, deadline=5.0, max_bytes=1_000_000)
RSS = "application/rss+xml"
LOL = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
       + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">'
                 for p, n in zip("abcdefgh", "bcdefghi", strict=True))
       + ']><rss version="2.0"><channel><title>t</title><item><title>x&i;</title>'
         "<link>https://pub.example/a</link></item></channel></rss>").encode()
XXE = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<rss version="2.0"><channel><title>t</title><item><title>x&x;</title>'
       b"<link>https://pub.example/a</link></item></channel></rss>")
LT = ('<rss version="2.0"><channel><title>t</title><item><title>lt</title>'
      f"<description>{'&lt;' * 240_000}</description>"
      "<link>https://pub.example/a</link></item></channel></rss>").encode()

# (path, reply, what the failure says) - None: the fetch succeeds and the document is parsed
CASES: list[tuple[str, Reply, str | None]] = [
    ("/loop", Reply(302, headers={"Location": "/loop"}), "redirects"),
    ("/gzip-bomb", Reply(200, gzip.compress(b"\0" * 50_000_000),
                         {"Content-Encoding": "gzip", "Content-Type": RSS}), "once decoded"),
    ("/too-big", Reply(200, b"<rss>" + b" " * 2_000_000, {"Content-Type": RSS}), "over the cap"),
    ("/entity-bomb", Reply(200, LOL, {"Content-Type": RSS}), None),
    ("/xxe", Reply(200, XXE, {"Content-Type": RSS}), None),
    ("/lt-240k", Reply(200, LT, {"Content-Type": "application/rss+xml"}), None),
]


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as running:
        for path, reply, _ in CASES:
            running.add(path, reply)
        yield running


@pytest.mark.parametrize(("path", "failure"), [(p, f) for p, _, f in CASES])
def test_a_hostile_server_is_one_bounded_outcome(server: FeedServer, path: str,
                                                 failure: str | None) -> None:
    with make_client(LIMITS, allow_private=True) as client:
        result = fetch_feed(client, server.url(path), limits=LIMITS, now=NOW)
    if failure is not None:
        assert result.kind == "error" and failure in (result.error or "")
        assert len(result.body) <= LIMITS.max_bytes
        return
    assert result.kind == "ok"
    feed = parse_feed(result.body, url=server.url(path))
    source = FeedSource(name="hostile", url=server.url(path))
    items, _ = normalize_feed(feed, source=source, feed_url=server.url(path),
                              config=FeedConfig(), classifier=Classifier(()), now=NOW)
    for item in items:
        record = item.record
        assert len(record.title) < 1_000 and len(record.excerpt) <= EXCERPT_LENGTH + 1
        assert "root:" not in record.title + record.excerpt          # no file was read
        assert "<" not in record.title
