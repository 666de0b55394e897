"""What a pass takes from a feed's entries, through a real feed server on loopback: an entry
whose only identity is a GUID that is no web address is skipped (never given an invented URL),
attachment titles are plain text, and a huge feed is cut to its newest entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.sources import FeedSource
from app.store.db import Database
from tests.feedserver import FeedServer, farm_feed
from tests.test_ingest_http import Harness

ITEM = ("<item><title>{title}</title>{link}{guid}"
        "<pubDate>Fri, 21 Nov 2026 10:00:00 GMT</pubDate>"
        "<description>Machine learning helps clinicians in the hospital.</description></item>")


def rss(*items: str) -> bytes:
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            "<title>Test feed</title><link>https://news.example/</link>"
            f"{''.join(items)}</channel></rss>").encode()


def item(title: str, *, link: str | None = None, guid: str | None = None,
         permalink: bool | None = None) -> str:
    mark = "" if permalink is None else f" isPermaLink='{str(permalink).lower()}'"
    return ITEM.format(title=title, link=f"<link>{link}</link>" if link else "",
                       guid=f"<guid{mark}>{guid}</guid>" if guid else "")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return Harness(db, tmp_path)


# --------------------------------------------------------------------------- GUIDs, not links

def test_a_guid_that_is_no_web_address_never_becomes_one(h: Harness, server: FeedServer) -> None:
    url = server.serve("/feed", rss(
        item("AI story with a number for a GUID", guid="1"),
        item("AI story with a word for a GUID", guid="foo"),
        item("AI story with a GUID that is not a permalink",
             guid="https://news.example/not-a-permalink", permalink=False),
        item("AI story whose GUID is its address", guid="https://news.example/by-guid"),
        item("AI story with a link", link="https://news.example/linked", guid="7")),
        "application/rss+xml")
    summary = h.run(url)
    assert {r.web_url for r in h.records()} == {"https://news.example/by-guid",
                                                "https://news.example/linked"}
    assert (summary.new, summary.skipped, summary.failed) == (2, 3, 0)
    assert "3 entries skipped" in summary.line()
    skips = [w for w in summary.warnings if "skipped" in w]
    assert len(skips) == 3
    for warning, guid in zip(skips, ("'1'", "'foo'", "'https://news.example/not-a-permalink'"),
                             strict=True):
        assert warning.startswith("src: ") and url in warning and f"GUID {guid}" in warning


def test_atom_and_json_feed_ids_are_links_only_when_they_are_web_addresses(
        h: Harness, server: FeedServer) -> None:
    atom = (b"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            b"<title>Atom</title><link href='https://news.example/'/><id>urn:x</id>"
            b"<updated>2026-11-21T10:00:00Z</updated>"
            b"<entry><title>AI story with id 2</title><id>2</id>"
            b"<updated>2026-11-21T10:00:00Z</updated></entry>"
            b"<entry><title>AI story with an address for an id</title>"
            b"<id>https://news.example/atom-id</id><updated>2026-11-21T10:00:00Z</updated></entry>"
            b"</feed>")
    jsonfeed = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J",
                           "home_page_url": "https://news.example/", "items": [
                               {"id": "3", "title": "AI story with id 3"},
                               {"id": 4, "title": "AI story with id 4"},
                               {"id": "https://news.example/json-id",
                                "title": "AI story with an address for an id"}]}).encode()
    atom_url = server.serve("/atom", atom, "application/atom+xml")
    json_url = server.serve("/json", jsonfeed, "application/feed+json")
    summary = h.ingestor(FeedSource("atom", atom_url), FeedSource("json", json_url)).run(every=True)
    assert {r.web_url for r in h.records()} == {"https://news.example/atom-id",
                                                "https://news.example/json-id"}
    assert summary.skipped == 3
    skips = [w for w in summary.warnings if "skipped" in w]
    assert any(w.startswith("atom: ") and "GUID '2'" in w for w in skips)
    assert any(w.startswith("json: ") and "GUID '3'" in w for w in skips)
    assert any(w.startswith("json: ") and "GUID '4'" in w for w in skips)


# --------------------------------------------------------------------------- attachment titles

def test_json_feed_attachment_titles_are_plain_text(h: Harness, server: FeedServer) -> None:
    jsonfeed = json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "J",
                           "items": [{
                               "id": "https://news.example/scan", "title": "AI reads scans",
                               "attachments": [
                                   {"url": "https://news.example/scan.jpg",
                                    "mime_type": "image/jpeg",
                                    "title": "<b>Chest</b>\n X-ray &amp; "
                                             "<img src=x onerror=alert(1)>scan"},
                                   {"url": "https://news.example/blank.jpg",
                                    "mime_type": "image/jpeg", "title": "<br>"}]}]}).encode()
    h.run(server.serve("/json", jsonfeed, "application/feed+json"))
    [record] = h.records()
    assert [(i.url, i.title) for i in record.images] == [
        ("https://news.example/scan.jpg", "Chest X-ray & scan"),
        ("https://news.example/blank.jpg", None)]


# --------------------------------------------------------------------------- huge feeds

def test_a_huge_feed_is_cut_to_its_newest_entries(h: Harness, server: FeedServer) -> None:
    # dated entries listed oldest first: the newest are the last 50 of the document
    dated = server.serve("/dated", farm_feed(0, 2000), "application/rss+xml")
    # undated entries: document order decides (feeds list the newest first)
    undated = server.serve("/undated", rss(*(
        item(f"AI story {j}", link=f"https://news.example/u{j}").replace(
            "<pubDate>Fri, 21 Nov 2026 10:00:00 GMT</pubDate>", "")
        for j in range(2000))), "application/rss+xml")
    summary = h.ingestor(FeedSource("dated", dated), FeedSource("undated", undated),
                         fetch_max_entries=50, fetch_max_bytes=2_000_000).run(every=True)
    assert (summary.fetched, summary.failed, summary.new) == (2, 0, 100)
    urls = {r.web_url for r in h.records()}
    assert {u for u in urls if "farm.example" in u} == {
        f"https://farm.example/s0/article-{j}" for j in range(1950, 2000)}
    assert {u for u in urls if "news.example" in u} == {
        f"https://news.example/u{j}" for j in range(50)}
    assert "dated: 2000 entries, the newest 50 kept" in summary.warnings
    assert "undated: 2000 entries, the newest 50 kept" in summary.warnings


def test_the_entry_cap_is_a_setting_of_500_by_default() -> None:
    assert Settings.from_env({}).fetch_max_entries == 500
    assert Settings.from_env({"NEWSDESK_FETCH_MAX_ENTRIES": "50"}).fetch_max_entries == 50
