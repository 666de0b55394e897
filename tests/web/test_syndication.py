"""Feeds as RSS clients see them: parsed back with feedparser, no bozo, the right entries in
the right order, stable GUIDs, absolute links, images as enclosures or media."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import feedparser
import pytest

from app.record import Record, slugify
from tests.web.conftest import Site, by_newest

BASE = "https://news.example.org"
FEEDS = {"rss": "feed.xml", "atom": "atom.xml"}


def expected(site: Site, topic: str | None) -> list[Record]:
    records = [r for r in site.public if topic is None or topic in r.topics]
    return by_newest(records)[:50]


@pytest.mark.parametrize("kind", ["rss", "atom"])
@pytest.mark.parametrize("topic", [None, "AI in Healthcare", "Medical Imaging"])
def test_xml_feeds_parse_cleanly_with_the_right_entries_in_order(
        site: Site, kind: str, topic: str | None) -> None:
    prefix = f"/topics/{slugify(topic)}" if topic else ""
    response = site.client.get(f"{prefix}/{FEEDS[kind]}")
    assert response.status_code == 200
    assert response.mimetype == ("application/rss+xml" if kind == "rss"
                                 else "application/atom+xml")
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    records = expected(site, topic)
    assert [e.title for e in parsed.entries] == [r.title for r in records]
    ids = [e.id for e in parsed.entries]
    assert ids == [r.id if kind == "rss" else f"urn:newsdesk:{r.id}" for r in records]
    for entry, record in zip(parsed.entries, records, strict=True):
        assert entry.link.startswith(("http://", "https://"))
        assert entry.published_parsed[:6] == record.published_at.utctimetuple()[:6]
        if record.images:
            media = entry.get("media_content") or []
            enclosures = [link.href for link in entry.get("links", [])
                          if link.get("rel") == "enclosure"]
            assert media or enclosures
            assert (media[0]["url"] if media else enclosures[0]).startswith("http")
    feed_link = parsed.feed.link
    assert feed_link.startswith(BASE)


def test_rss_has_guids_that_are_not_permalinks_enclosures_and_a_ttl(site: Site) -> None:
    root = ET.fromstring(site.client.get("/feed.xml").data)
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("ttl") == "15"
    items = channel.findall("item")
    record = next(r for r in expected(site, None) if r.images)
    item = next(i for i in items if i.findtext("guid") == record.id)
    assert item.find("guid").get("isPermaLink") == "false"  # type: ignore[union-attr]
    enclosure = item.find("enclosure")
    assert enclosure is not None and enclosure.get("url", "").startswith("http")
    assert enclosure.get("type", "").startswith("image/")


def test_feed_text_is_escaped_and_round_trips(site: Site) -> None:
    tricky = next(r for r in site.records if '"' in r.title and r.published)
    parsed = feedparser.parse(site.client.get("/feed.xml").data)
    assert tricky.title in [e.title for e in parsed.entries]
    scripted = next(r for r in site.public if "<script>" in r.body)
    entry = next(e for e in parsed.entries if e.id == scripted.id)
    assert "<script" not in entry.content[0].value


def test_json_feed_1_1(site: Site) -> None:
    response = site.client.get("/topics/ai-in-healthcare/feed.json")
    assert response.status_code == 200
    assert response.mimetype == "application/feed+json"
    feed = json.loads(response.data)
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == f"{BASE}/topics/ai-in-healthcare/feed.json"
    records = expected(site, "AI in Healthcare")
    assert [i["id"] for i in feed["items"]] == [r.id for r in records]
    for item, record in zip(feed["items"], records, strict=True):
        assert item["url"] == f"{BASE}/items/{record.id}/{record.slug}"
        assert item["external_url"].startswith("http")
        assert item["date_published"].endswith("Z")
        assert item["content_html"]
        if record.images:
            assert item["image"].startswith("http")
    everything = json.loads(site.client.get("/feed.json").data)
    assert [i["id"] for i in everything["items"]] == [r.id for r in expected(site, None)]


def test_empty_and_unknown_topic_feeds(site: Site) -> None:
    # a topic only on unpublished records has no feed (issue 17); a configured topic with no
    # story yet has empty ones (tests/web/test_site_pages.py)
    site.save(site.hidden[0].replace(topics=("Quiet Topic",)))
    for name in FEEDS.values():
        assert site.client.get(f"/topics/quiet-topic/{name}").status_code == 404
        assert site.client.get(f"/topics/no-such-topic/{name}").status_code == 404
    assert site.client.get("/topics/quiet-topic/feed.json").status_code == 404


def test_opml_lists_every_topic_feed(site: Site) -> None:
    response = site.client.get("/feeds.opml")
    assert response.status_code == 200
    root = ET.fromstring(response.data)
    urls = {o.get("xmlUrl") for o in root.iter("outline") if o.get("type") == "rss"}
    topics = {n for r in site.public for n in r.topics}
    assert urls == {f"{BASE}/feed.xml"} | {f"{BASE}/topics/{slugify(t)}/feed.xml"
                                           for t in topics}
    for url in urls:
        assert url is not None
        assert site.client.get(url.removeprefix(BASE)).status_code == 200


def test_every_page_links_its_feeds_for_autodiscovery(site: Site) -> None:
    record = site.public[0]
    for path in ("/", "/topics/", "/topics/ai/", f"/items/{record.id}/{record.slug}",
                 "/search?q=ai", "/providers/statnews.com/"):
        html = site.client.get(path).get_data(as_text=True)
        for mime in ("application/rss+xml", "application/atom+xml", "application/feed+json"):
            assert f'rel="alternate" type="{mime}"' in html, (path, mime)
    topic_html = site.client.get("/topics/ai/").get_data(as_text=True)
    assert 'href="/topics/ai/atom.xml"' in topic_html


def test_control_characters_in_stored_records_never_break_the_feeds(site: Site) -> None:
    # records imported from files or edited by editors may hold characters XML cannot carry
    record = site.public[0]
    site.save(record.replace(
        title="Bad\x01 title\x1f", excerpt="an\x02 excerpt", body="A body\x0b with\x08 controls",
        provider=record.provider.__class__(name="Pub\x03", domain=record.provider.domain),
        topics=("AI in Healthcare", "Odd\x04 Topic")))
    for path in ("/feed.xml", "/atom.xml", "/topics/ai-in-healthcare/feed.xml",
                 "/topics/ai-in-healthcare/atom.xml", "/topics/odd-topic/atom.xml",
                 "/feeds.opml"):
        response = site.client.get(path)
        assert response.status_code == 200, path
        root = ET.fromstring(response.data)          # well-formed XML
        if path != "/feeds.opml":
            texts = [e.text or "" for e in root.iter()]
            assert "Bad title" in texts, path
            assert not any(ch in "".join(texts) for ch in "\x01\x02\x03\x04\x08\x0b\x1f")
    feed = json.loads(site.client.get("/feed.json").data)
    assert any(item["title"] in ("Bad title", "Bad\x01 title\x1f") for item in feed["items"])


HOSTILE = "Scan <img src=x onerror=alert(1)//"
TYPED = "Editors typed <b onmouseover=alert(2)>bold</b> & <script>alert(3)</script>"


def _html_nodes(markup: str) -> tuple[list[str], list[str], str]:
    """(elements, attributes, visible text) of `markup` read as an HTML fragment, the way a
    reader that renders RSS descriptions as HTML reads it."""
    import lxml.html

    root = lxml.html.fragment_fromstring(markup, create_parent="div")
    found = [e for e in root.iter() if e is not root]
    tags = [str(e.tag) for e in found]
    attributes = [name for e in root.iter() for name in e.attrib]
    return tags, attributes, root.text_content()


def test_rss_descriptions_carry_plain_text_escaped_as_html(site: Site) -> None:
    """RSS descriptions are HTML: a stored excerpt, title or topic name holding markup (an
    unterminated tag left by a feed, or typed by an editor) renders as text, never as an
    element; Atom and JSON Feed carry it as text, as written."""
    record, bare = site.public[0], site.public[1]
    topic = "Risky <img src=x onerror=alert(1)// Topic"
    site.save(record.replace(excerpt=TYPED, body="", topics=(topic,)), minutes=5)
    site.save(bare.replace(title=HOSTILE, excerpt="", body="", topics=(topic,)), minutes=6)
    slug = slugify(topic)
    for path in ("/feed.xml", f"/topics/{slug}/feed.xml"):
        channel = ET.fromstring(site.client.get(path).data).find("channel")
        assert channel is not None
        descriptions = {i.findtext("guid"): i.findtext("description") or ""
                        for i in channel.findall("item")}
        for rid, shown in ((record.id, TYPED), (bare.id, HOSTILE)):
            tags, attributes, text = _html_nodes(descriptions[rid])
            assert tags == [] and attributes == [], (path, descriptions[rid])
            assert text == shown
        tags, attributes, text = _html_nodes(channel.findtext("description") or "")
        assert tags == [] and attributes == [], path
        if path != "/feed.xml":
            assert topic in text
    # Atom: summary/content/subtitle without a type are text; they keep the text as written
    atom = feedparser.parse(site.client.get(f"/topics/{slug}/atom.xml").data)
    assert atom.bozo == 0
    texts = {e.id: (e.get("content") or [{}])[0].get("value", "") for e in atom.entries}
    assert texts[f"urn:newsdesk:{record.id}"] == TYPED
    assert texts[f"urn:newsdesk:{bare.id}"] == HOSTILE
    assert topic in atom.feed.subtitle
    root = ET.fromstring(site.client.get(f"/topics/{slug}/atom.xml").data)
    ns = "{http://www.w3.org/2005/Atom}"
    for element in root.iter():
        if element.tag in (f"{ns}summary", f"{ns}subtitle", f"{ns}title"):
            assert element.get("type") in (None, "text"), element.tag
    # JSON Feed: summary and title are plain-text fields; content_html is escaped
    feed = json.loads(site.client.get(f"/topics/{slug}/feed.json").data)
    items = {i["id"]: i for i in feed["items"]}
    assert items[record.id]["summary"] == TYPED
    assert items[bare.id]["title"] == HOSTILE
    for item in items.values():
        tags, attributes, _ = _html_nodes(item["content_html"])
        assert set(tags) <= {"p"} and attributes == []
    assert topic in feed["description"]
