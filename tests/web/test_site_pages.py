"""The reader's site as a news site (issue 17), page by page through the test client: images
only from our origin and sized, stories as clusters, relative times, record metadata."""

from __future__ import annotations

import re
from pathlib import Path

from app.pipeline.images import cached_route, store_image, url_key
from app.record import Image, Record
from app.store.repository import EnrichmentRepository
from tests.conftest import NOW, ROOT
from tests.web.conftest import Site

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082")
IMG_RX = re.compile(r"<img\b[^>]*>")


def hold_copy(site: Site, image: Image, *, width: int | None = 800,
              height: int | None = 450) -> str:
    """Cache `image` as the enrichment run would: a file under data_dir, a cached_images row."""
    data_dir = site.app.extensions["newsdesk.settings"].data_dir
    sha = store_image(Path(data_dir), PNG, "png")
    with site.db.session() as session:
        EnrichmentRepository(session).save_cached_image(
            url_key(image.url), image.url, now=NOW, sha256=sha, ext="png", width=width,
            height=height, size=len(PNG))
    return cached_route(image.url)


def images_of(html: str) -> list[str]:
    return IMG_RX.findall(html)


def public_pages(site: Site) -> list[str]:
    record = next(r for r in site.public if r.images and r.related)
    topic = site.client.get("/topics/").get_data(as_text=True)
    slug = re.search(r'href="/topics/([^/"]+)/"', topic)
    assert slug
    return ["/", "/topics/", f"/topics/{slug.group(1)}/",
            f"/topics/{slug.group(1)}/?sort=hottest", f"/items/{record.id}/{record.slug}",
            f"/providers/{record.provider.domain}/", "/search?q=AI"]


def test_pages_show_no_third_party_image_and_size_every_image(site: Site) -> None:
    for path in public_pages(site):
        response = site.client.get(path)
        assert response.status_code == 200, path
        for tag in images_of(response.get_data(as_text=True)):
            src = re.search(r'src="([^"]*)"', tag)
            assert src and src.group(1).startswith("/assets/images/"), (path, tag)
            assert re.search(r'width="\d+"', tag) and re.search(r'height="\d+"', tag), tag
        csp = response.headers["Content-Security-Policy"]
        assert "img-src 'self' data:;" in csp, path


def test_an_image_shows_once_we_hold_a_copy_with_its_size(site: Site) -> None:
    record = next(r for r in site.public if r.images)
    path = f"/items/{record.id}/{record.slug}"
    before = site.client.get(path).get_data(as_text=True)
    assert 'class="record-image"' not in before          # not held yet: no broken box
    assert record.images[0].url.replace("&", "&amp;") not in before
    route = hold_copy(site, record.images[0], width=640, height=360)
    site.save(record.replace(title=record.title + " (updated)"))   # a new page version
    record = next(r for r in site.records if r.id == record.id)
    after = site.client.get(f"/items/{record.id}/{record.slug}").get_data(as_text=True)
    shown = [tag for tag in images_of(after) if f'src="{route}"' in tag]
    assert len(shown) == 1 and 'width="640" height="360"' in shown[0]
    with site.client.get(route) as image:
        assert image.status_code == 200 and image.mimetype == "image/png"


def test_a_provider_without_a_held_logo_gets_a_monogram(site: Site) -> None:
    record = next(r for r in site.public if r.provider.images)
    html = site.client.get(f"/items/{record.id}/{record.slug}").get_data(as_text=True)
    assert record.provider.images[0].url not in html     # we hold no copy in this test
    logo = re.search(r'<img class="logo" src="([^"]+)"', html)
    assert logo and logo.group(1) == f"/assets/images/monograms/{record.provider.domain}.svg"
    svg = site.client.get(logo.group(1))
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert f">{record.provider.name[0].upper()}</text>" in svg.get_data(as_text=True)


def test_images_in_a_record_body_are_not_shown(site: Site) -> None:
    base: Record = site.public[0]
    record = base.replace(body='Text ![x](https://tracker.example.com/pixel.gif) '
                               '<img src="https://tracker.example.com/b.png"> more text')
    site.save(record)
    html = site.client.get(f"/items/{record.id}/{record.slug}").get_data(as_text=True)
    assert "tracker.example.com" not in html and "more text" in html


def story_cards(html: str) -> list[str]:
    return re.findall(r'(?s)<article class="card[^"]*">.*?</article>', html)


def test_three_reports_of_one_story_are_one_cluster_lead_first(site: Site) -> None:
    from tests.web.story_fixtures import sepsis_story

    lead, *others = sepsis_story(site.db, NOW)
    for path in ("/topics/ai-in-healthcare/", "/topics/ai-in-healthcare/?sort=hottest",
                 "/latest/"):
        html = site.client.get(path).get_data(as_text=True)
        cards = [c for c in story_cards(html) if "Mayo Clinic" in c]
        assert len(cards) == 1, path                     # one story, not three cards
        card = cards[0]
        assert lead.title in card and all(o.title not in card for o in others)
        also = re.search(r'(?s)<span class="also">(.*?)</span>', card)
        assert also, path
        names = re.findall(r'<a href="(/items/[^"]+)">([^<]+)</a>', also.group(1))
        assert [n for _, n in names] == ["Fierce Healthcare", "Healthcare IT News"]
        assert {h.split("/")[2] for h, _ in names} == {o.id for o in others}
        assert "3 sources" in card and f"Heat {lead.heat}" in card


def test_times_are_relative_with_the_exact_time_in_a_title(site: Site) -> None:
    from tests.web.story_fixtures import sepsis_story

    lead = sepsis_story(site.db, NOW)[0]
    html = site.client.get(f"/items/{lead.id}/{lead.slug}").get_data(as_text=True)
    assert (f'<time datetime="{lead.published_at:%Y-%m-%dT%H:%M:%SZ}" '
            f'title="25 Nov 2026, 11:00 UTC">1 h ago</time>') in html


def test_excerpts_end_at_a_word_with_an_ellipsis_and_chips_skip_the_parent(
        site: Site) -> None:
    base = next(r for r in site.public if "AI in Healthcare" in r.topics and "AI" in r.topics)
    words = " ".join(f"word{i}" for i in range(80))
    record = base.replace(excerpt=words, published_at=NOW)
    site.save(record)
    html = site.client.get("/topics/ai-ethics/" if "AI Ethics" in record.topics
                           else "/latest/").get_data(as_text=True)
    card = next(c for c in story_cards(html) if record.title in c)
    excerpt = re.search(r'<p class="excerpt">([^<]*)</p>', card)
    assert excerpt and excerpt.group(1).endswith("\u2026")
    assert re.fullmatch(r"(word\d+ )*word\d+\u2026", excerpt.group(1))
    chips = re.findall(r'<li><a href="/topics/[^"]+/">([^<]+)</a></li>', card)
    from app.sources import load_feeds

    parents = {t.name: t.parent for t in load_feeds(ROOT / "feeds").topics if t.parent}
    implied = {parents[n] for n in record.topics if n in parents}
    assert "AI" in implied and "AI" not in chips          # the parent is not repeated
    assert chips and not implied & set(chips)
    assert chips == sorted(chips, key=str.lower)


def test_record_pages_carry_canonical_social_and_news_article_metadata(site: Site) -> None:
    import json

    record = next(r for r in site.public if r.images and r.amp_web_url)
    hold_copy(site, record.images[0])
    site.save(record.replace(title=record.title + " again"))
    record = next(r for r in site.records if r.id == record.id)
    html = site.client.get(f"/items/{record.id}/{record.slug}").get_data(as_text=True)
    page = f"https://news.example.org/items/{record.id}/{record.slug}"
    image = "https://news.example.org" + cached_route(record.images[0].url)
    assert f'<link rel="canonical" href="{page}">' in html
    assert 'rel="amphtml"' not in html           # that tag would declare *our* AMP version
    for meta in (f'<meta property="og:url" content="{page}">',
                 f'<meta property="og:image" content="{image}">',
                 '<meta name="twitter:card" content="summary_large_image">',
                 f'<meta name="twitter:image" content="{image}">'):
        assert meta in html
    assert re.search(r'<meta property="og:title" content="[^"]+ again">', html)
    found = re.search(r'<script type="application/ld\+json">(.*?)</script>', html)
    assert found
    data = json.loads(found.group(1))
    assert data["@type"] == "NewsArticle" and data["url"] == page
    assert data["image"] == image and data["headline"].endswith(" again")
    assert data["publisher"]["name"] == record.provider.name


FEEDS_YAML = """\
topics:
  - name: AI
    slug: ai
    match: {any: [artificial intelligence]}
  - name: AI in Healthcare
    slug: ai-in-healthcare
    parent: AI
    match: {any: [hospital]}
  - name: Quiet Topic
    slug: quiet-topic
    parent: AI in Healthcare
    description: Rare diseases found by machine learning.
    match: {any: [quietness]}
"""


def test_a_configured_topic_has_a_page_and_feeds_before_its_first_story(
        site: Site, tmp_path: Path) -> None:
    import feedparser

    from app import create_app
    from tests.web.conftest import make_settings

    feeds = tmp_path / "topics.yaml"
    feeds.write_text(FEEDS_YAML, encoding="utf-8")
    app = create_app(make_settings(tmp_path, feeds=feeds), site.db, TESTING=True)
    client = app.test_client()
    page = client.get("/topics/quiet-topic/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "No stories in this topic are published yet" in html
    assert "Follows: Rare diseases found by machine learning." in html
    assert 'href="/topics/quiet-topic/feed.xml"' in html
    assert '› <a href="/topics/ai-in-healthcare/">AI in Healthcare</a>' in html
    for name in ("feed.xml", "atom.xml"):
        parsed = feedparser.parse(client.get(f"/topics/quiet-topic/{name}").data)
        assert parsed.bozo == 0 and parsed.entries == []
    parent = client.get("/topics/ai-in-healthcare/").get_data(as_text=True)
    assert 'aria-label="Subtopics"' in parent and 'href="/topics/quiet-topic/"' in parent
    tree = client.get("/topics/").get_data(as_text=True)
    # the tree: Quiet Topic nested under AI in Healthcare, itself under AI
    ai = tree.index('href="/topics/ai/"')
    health = tree.index('href="/topics/ai-in-healthcare/"')
    quiet = tree.index('href="/topics/quiet-topic/"')
    assert ai < health < quiet
    assert tree[health:quiet].count('<ul class="topic-tree topic-children">') == 1
    assert "0 stories" in tree[quiet:quiet + 300]


def test_search_has_one_box_and_a_search_without_results_offers_a_way_on(site: Site) -> None:
    html = site.client.get("/search?q=imaging+zzzqqq").get_data(as_text=True)
    assert html.count('type="search"') == 1
    assert "Try instead" in html
    assert '<a href="/search?q=zzzqqq">zzzqqq</a>' in html
    assert '<a href="/search?q=imaging">imaging</a>' in html
    assert '<a href="/topics/medical-imaging/">Medical Imaging</a>' in html
    hits = site.client.get("/search?q=imaging").get_data(as_text=True)
    assert "Try instead" not in hits and 'class="result"' in hits
    front = site.client.get("/").get_data(as_text=True)
    assert front.count('type="search"') == 1
