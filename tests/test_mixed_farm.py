"""The second farm's shapes through one pass (issue 19): RSS with content:encoded and media:,
Atom with HTML content and JSON Feed, each entry long HTML with images; between passes a quarter
of the feeds replace their three oldest entries with three new ones."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

from app.clock import fixed
from app.config import Settings
from app.ingest import run_pass
from app.sources import FeedConfig, FeedSource, load_feeds
from app.store.db import Database
from app.store.repository import RecordRepository
from tests.conftest import TEST_CONFIG
from tests.feedserver import FeedServer, mixed_farm_route

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_every_shape_of_the_mixed_farm_is_stored_and_only_changed_feeds_store_again(
        db: Database, tmp_path: Path) -> None:
    shipped = load_feeds(TEST_CONFIG)
    with FeedServer() as server:
        server.prefixes["/mixed/"] = mixed_farm_route(6)
        sources = tuple(FeedSource(f"m{i}", server.url(f"/mixed/{i}.xml")) for i in range(8))
        config = FeedConfig(sources=sources, topics=shipped.topics, providers=shipped.providers,
                            auto_publish=shipped.auto_publish)
        settings = Settings.from_env({}, data_dir=tmp_path, feeds=tmp_path,
                                     allow_private_networks=True, parse_processes=1,
                                     clock=fixed(NOW))
        first = run_pass(db, settings, config, every=True)
        assert (first.fetched, first.failed, first.new) == (8, 0, 48), first.failures
        httpx.get(server.url("/mixed/generation/1")).raise_for_status()
        second = run_pass(db, settings, config, every=True)
        # sources 1 and 5 changed: 3 new entries each; the other six answer 304
        assert (second.fetched, second.not_modified, second.new) == (2, 6, 6), second.failures

    with db.session() as session:
        records = list(RecordRepository(session).iter_all())
    assert len(records) == 54
    by_host = Counter(r.web_url.split("/")[3] for r in records)
    assert by_host == {"s0": 6, "s1": 9, "s2": 6, "s3": 6, "s4": 6, "s5": 9, "s6": 6, "s7": 6}
    assert all("utm_medium" not in r.web_url for r in records)
    # the article's HTML reaches the record from each shape: its text, not its markup
    # the excerpt is text, not markup, from each shape
    assert all(r.excerpt.startswith("Story ") and "<" not in r.excerpt for r in records)
    # every entry has a picture: media: for RSS, JSON Feed's image, and for Atom, whose
    # entries name none, the first <img> of the content (as Miniflux and FreshRSS show one)
    assert all(r.images for r in records)
    atom = [r for r in records if r.web_url.split("/")[3] in ("s1", "s4", "s7")]
    assert {(r.images[0].width, r.images[0].height) for r in atom} == {(640, 360)}
    assert all(r.images[0].url.endswith("-1.jpg") for r in atom)


def _atom(content: str, extra: str = "") -> bytes:
    return ('<feed xmlns="http://www.w3.org/2005/Atom" xmlns:media='
            '"http://search.yahoo.com/mrss/"><title>t</title><entry><title>a</title>'
            f'<link href="https://news.example/a"/><id>a</id>{extra}'
            f'<content type="html">{content}</content></entry></feed>').encode()


def _first(body: bytes) -> tuple[str, int | None, int | None, str | None] | None:
    from app.pipeline.parse import parse_feed

    images = parse_feed(body, url="https://news.example/feed").entries[0].images
    return (images[0].url, images[0].width, images[0].height, images[0].title) \
        if images else None


def test_an_entry_without_a_named_image_shows_the_first_real_picture_of_its_html() -> None:
    pixel = "&lt;img src='https://t.example/p.gif' width='1' height='1'&gt;"
    data = '&lt;img src="data:image/png;base64,AAAA"&gt;'
    real = '&lt;IMG alt="A ward" src="/img/ward.jpg?a=1&amp;amp;b=2" width=800 height=450&gt;'
    assert _first(_atom(pixel + data + real)) == ("/img/ward.jpg?a=1&b=2", 800, 450, "A ward")
    assert _first(_atom(pixel + data)) is None
    assert _first(_atom("&lt;p&gt;no picture&lt;/p&gt;")) is None
    named = '<media:thumbnail url="https://news.example/named.jpg"/>'
    found = _first(_atom(real, named))
    assert found is not None and found[0] == "https://news.example/named.jpg"  # the feed's wins
    # thousands of unclosed tags: a bounded search, no image, no hang
    assert _first(_atom("&lt;img src=x " * 20_000)) is None
