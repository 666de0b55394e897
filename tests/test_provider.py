"""A source's `provider` in feeds/ names the provider of its entries: a domain is used as
given, listed under `providers` or not; a display name is looked up; without one, the link's
host (or its listed parent domain) is the provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.pipeline.classify import Classifier
from app.pipeline.work import parse_body
from app.record import Provider
from app.sources import load_feeds
from tests.conftest import NOW

FEEDS = """
sources:
  - {name: Unlisted, url: 'https://feeds.example/a.xml', provider: newswire.example}
  - {name: Listed, url: 'https://feeds.example/b.xml', provider: www.statnews.com}
  - {name: Named, url: 'https://feeds.example/c.xml', provider: STAT}
  - {name: Plain, url: 'https://feeds.example/d.xml'}
  - {name: Search, url: 'https://news.google.com/rss/search?q=x', kind: search,
     provider: newswire.example}
providers:
  - {domain: statnews.com, name: STAT, quality: 85}
  - {domain: reuters.com, name: Reuters, quality: 85}
"""

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>A feed</title>
<link>https://mirror.example/</link><description>x</description>
<item><title>Clinic adopts AI scribe</title><link>{link}</link><guid>1</guid></item>
</channel></rss>"""


@pytest.mark.parametrize(("source", "link", "provider", "quality"), [
    ("Unlisted", "https://cdn.mirror.example/story", Provider("newswire.example",
                                                              "newswire.example"), 50),
    ("Unlisted", "https://www.reuters.com/story", Provider("newswire.example",
                                                           "newswire.example"), 50),
    ("Listed", "https://cdn.mirror.example/story", Provider("STAT", "statnews.com"), 85),
    ("Named", "https://cdn.mirror.example/story", Provider("STAT", "statnews.com"), 85),
    ("Plain", "https://www.reuters.com/story", Provider("Reuters", "reuters.com"), 85),
    ("Plain", "https://cdn.mirror.example/story", Provider("A feed", "cdn.mirror.example"), 50),
])
def test_the_provider_of_a_sources_entries(tmp_path: Path, source: str, link: str,
                                           provider: Provider, quality: int) -> None:
    (tmp_path / "feeds.yaml").write_text(FEEDS, encoding="utf-8")
    config = load_feeds(tmp_path / "feeds.yaml")
    feed_source = config.source(source)
    assert feed_source is not None
    parsed = parse_body(feed_source, RSS.format(link=link).encode(), feed_source.url,
                        "application/rss+xml", NOW, config=config,
                        classifier=Classifier(config.topics))
    assert parsed.error is None and len(parsed.items) == 1
    record = parsed.items[0].record
    assert (record.provider.name, record.provider.domain) == (provider.name, provider.domain)
    assert record.quality == quality
