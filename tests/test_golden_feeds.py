"""Golden tests: each feed file in tests/data/feeds beside the records it must become
(`NAME.expected.md`, records in the canonical record format, one after another).

Set NEWSDESK_REGEN_GOLDEN=1 to rewrite the expected files after a deliberate change, then read
the diff before committing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.pipeline.classify import Classifier
from app.pipeline.work import parse_body
from app.record import dump_record
from app.sources import FeedSource, load_feeds
from tests.conftest import DATA, NOW, SHARED, TEST_CONFIG

FEEDS = DATA / "feeds"
CONFIG = load_feeds(TEST_CONFIG)
SOURCES = {
    "rss20.xml": (FeedSource("STAT", "https://www.statnews.com/feed/", provider="statnews.com"),
                  "application/rss+xml; charset=utf-8"),
    "rss10.rdf": (FeedSource("npj", "https://www.nature.com/npjdigitalmed.rss",
                             provider="nature.com", type="paper"), "application/rdf+xml"),
    "atom.xml": (FeedSource("JMIR", "https://www.jmir.org/feed/atom", provider="jmir.org",
                            type="paper"), "application/atom+xml"),
    "jsonfeed.json": (FeedSource("MedCity", "https://medcitynews.com/feed.json"),
                      "application/feed+json"),
    "google-news.xml": (FeedSource("Search", "https://news.google.com/rss/search?q=AI",
                                   kind="search", topics=("AI in Healthcare",)),
                        "application/rss+xml"),
}


def render(name: str) -> tuple[str, tuple[str, ...]]:
    source, ctype = SOURCES[name]
    parsed = parse_body(source, (FEEDS / name).read_bytes(), source.url, ctype, NOW,
                        config=CONFIG, classifier=Classifier(CONFIG.topics))
    assert parsed.error is None
    return "".join(dump_record(item.record) for item in parsed.items), parsed.warnings


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_feed_becomes_the_expected_records(name: str) -> None:
    text, _ = render(name)
    expected = FEEDS / (Path(name).stem + ".expected.md")
    if os.environ.get("NEWSDESK_REGEN_GOLDEN") == "1":
        expected.write_text(text, encoding="utf-8")
    assert text == expected.read_text(encoding="utf-8")


def test_golden_inputs_cover_every_format() -> None:
    formats = set()
    for name, (source, ctype) in SOURCES.items():
        from app.pipeline.parse import parse_feed
        formats.add(parse_feed((FEEDS / name).read_bytes(), url=source.url,
                               content_type=ctype).format)
    assert {"rss20", "rss10", "atom10", "json11"} <= formats


def test_bad_entries_are_skipped_with_a_warning_naming_them() -> None:
    _, warnings = render("rss20.xml")
    assert any("entry 5 skipped" in w and "no link" in w for w in warnings)
    _, warnings = render("jsonfeed.json")
    assert any("item 3 skipped" in w for w in warnings)


def _feed_files() -> list[Path]:
    files = sorted(p for p in FEEDS.iterdir() if p.suffix in (".xml", ".rdf", ".atom"))
    corpus = SHARED / "corpus" / "feeds"
    if corpus.is_dir():
        files += sorted(p for p in corpus.iterdir() if p.is_file())
    return files


def test_feedparser_reads_every_feed_as_it_does_without_our_faster_copy() -> None:
    # app.pipeline.parse swaps the deep copy feedparser makes of each element's content
    # parameters for a cheaper one; what feedparser returns must not change.
    import copy

    import feedparser.mixin

    import app.pipeline.parse  # noqa: F401 - installs the faster copy

    ours = feedparser.mixin.copy
    assert ours is not copy
    files = _feed_files()
    assert files
    for path in files:
        body = path.read_bytes()
        try:
            feedparser.mixin.copy = copy
            stock = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        finally:
            feedparser.mixin.copy = ours
        fast = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
        for result in (stock, fast):
            result.pop("bozo_exception", None)
        assert fast == stock, path.name
