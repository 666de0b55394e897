"""The reader's pages, through Flask's test client, on the 32-record test corpus."""

from __future__ import annotations

import re
from contextlib import closing
from pathlib import Path

from app.record import record_id, slugify
from tests.web.conftest import Site, by_newest, links_of, text_of


def topic_slug(name: str) -> str:
    return slugify(name)


def test_front_page_shows_the_hottest_story_first_with_its_related_coverage(site: Site) -> None:
    response = site.client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    hottest = max(site.public, key=lambda r: (r.heat or -1, r.published_at))
    top = html.split('id="hot-heading"')[1]
    first_title = re.search(r'class="story-title"><a href="([^"]+)">([^<]+)<', top)
    assert first_title and first_title.group(1).startswith(f"/items/{hottest.id}/")
    grouped = next(r for r in by_newest(site.public)
                   if r.related and any(i.web_url for i in r.related)
                   and r in sorted(site.public, key=lambda x: -(x.heat or -1))[:5])
    story = next(a for a in re.findall(r"(?s)<article.*?</article>", top)
                 if f"/items/{grouped.id}/" in a)
    assert "Related coverage" in story
    assert text_of(grouped.related[0].title or "") in text_of(story)


def test_front_page_lists_the_latest_and_links_every_topic(site: Site) -> None:
    html = site.client.get("/").get_data(as_text=True)
    links = links_of(html)
    topics = {name for r in site.public for name in r.topics}
    for name in topics:
        assert f"/topics/{topic_slug(name)}/" in links, name
    latest = html.split('id="latest-heading"')[1]
    shown = re.findall(r'href="/items/([0-9a-f]{16})/', latest)
    assert shown, "the latest section lists stories"
    order = [r.id for r in by_newest(site.public) if r.id in shown]
    assert order == list(dict.fromkeys(shown))


def test_topics_page_counts_published_stories_only(site: Site) -> None:
    html = site.client.get("/topics/").get_data(as_text=True)
    for name in {n for r in site.public for n in r.topics}:
        count = sum(1 for r in site.public if name in r.topics)
        row = html.split(f'href="/topics/{topic_slug(name)}/"')[1].split("</div>")[0]
        assert f'<span class="count">{count} {"story" if count == 1 else "stories"}</span>' \
            in row, name


def test_topic_page_lists_its_published_records_newest_first(site: Site) -> None:
    name = "AI in Healthcare"
    html = site.client.get(f"/topics/{topic_slug(name)}/").get_data(as_text=True)
    shown = re.findall(r'<h2 class="card-title"><a href="/items/([0-9a-f]{16})/', html)
    expected = [r.id for r in by_newest([r for r in site.public if name in r.topics])][:20]
    assert shown == expected
    assert 'rel="alternate" type="application/rss+xml"' in html
    assert f"/topics/{topic_slug(name)}/feed.xml" in html


def test_topic_page_hottest_first(site: Site) -> None:
    name = "AI in Healthcare"
    html = site.client.get(f"/topics/{topic_slug(name)}/?sort=hottest").get_data(as_text=True)
    shown = re.findall(r'<h2 class="card-title"><a href="/items/([0-9a-f]{16})/', html)
    records = [r for r in site.public if name in r.topics]
    expected = sorted(records, key=lambda r: (r.heat if r.heat is not None else -1,
                                              r.published_at, r.id), reverse=True)
    assert shown == [r.id for r in expected][:20]


def test_keyset_pagination_walks_every_record_once_in_order(site: Site) -> None:
    base = site.public[0]
    for i in range(47):
        site.save(base.replace(web_url=f"https://example.org/paged/{i}",
                               title=f"Paged story {i}", topics=("Paging",),
                               published_at=base.published_at.replace(minute=i % 3)))
    for sort in ("newest", "hottest"):
        url, seen, pages = f"/topics/paging/?sort={sort}", [], 0
        while url:
            html = site.client.get(url).get_data(as_text=True)
            seen += re.findall(r'<h2 class="card-title"><a href="/items/([0-9a-f]{16})/', html)
            nxt = re.search(r'rel="next" href="([^"]+)"', html)
            url = nxt.group(1).replace("&amp;", "&") if nxt else ""
            pages += 1
        assert pages == 3
        expected = [r.id for r in by_newest([r for r in site.public if "Paging" in r.topics])]
        assert len(seen) == 47 and len(set(seen)) == 47
        if sort == "newest":
            assert seen == expected


def test_a_bad_page_marker_is_a_clear_400(site: Site) -> None:
    for query in ("before=nonsense", "before=20240101T000000.000000Z_zz", "sort=random"):
        response = site.client.get(f"/topics/ai/?{query}")
        assert response.status_code == 400
        assert "before" in response.get_data(as_text=True) or "sort" in response.get_data(
            as_text=True)


def test_empty_topic_and_unknown_topic(site: Site) -> None:
    # a topic found only on records nobody published is not shown (issue 17): its name alone
    # could say too much; configured topics have pages from the start (test_site_pages.py)
    site.save(site.hidden[0].replace(topics=("Quiet Topic",)))
    name = "Quiet Topic"
    response = site.client.get(f"/topics/{topic_slug(name)}/")
    assert response.status_code == 404
    assert name not in response.get_data(as_text=True)
    assert f"/topics/{topic_slug(name)}/" not in site.client.get("/topics/").get_data(
        as_text=True)
    missing = site.client.get("/topics/no-such-topic/")
    assert missing.status_code == 404
    assert "Page not found" in missing.get_data(as_text=True)
    assert 'class="site-header"' in missing.get_data(as_text=True)


def test_record_page_shows_everything_a_reader_needs(site: Site) -> None:
    record = next(r for r in site.public if r.images and r.provider.images and r.related)
    response = site.client.get(f"/items/{record.id}/{record.slug}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = text_of(html)
    assert record.title in text and record.provider.name in text
    assert f'href="{record.web_url}"' in html.replace("&amp;", "&")
    # no copy of the logo or the image is held here: a monogram, and no third party's image
    assert f"/assets/images/monograms/{record.provider.domain}.svg" in html
    assert record.images[0].url.replace("&", "&amp;") not in html
    assert f'<time datetime="{record.published_at:%Y-%m-%dT%H:%M:%SZ}"' in html
    if record.amp_web_url:
        assert record.amp_web_url in html
    assert "Related coverage" in html
    for name in record.topics:
        assert f"/topics/{topic_slug(name)}/" in html


def test_record_body_is_markdown_and_sanitized(site: Site) -> None:
    record = next(r for r in site.public if "<script>" in r.body)
    html = site.client.get(f"/items/{record.id}/{record.slug}").get_data(as_text=True)
    body = html.split('class="record-body"')[1]
    assert "<table>" in body and "<h2>" in body and "<strong>somewhere</strong>" in body
    data = re.sub(r'<script type="application/ld\+json">[^<]*</script>', "", html)
    assert "<script" not in data.lower() and "onclick" not in body
    assert "alert(1)" not in body


def test_record_with_a_wrong_slug_redirects_and_bad_ids_are_404(site: Site) -> None:
    record = site.public[0]
    for path in (f"/items/{record.id}/wrong-slug", f"/items/{record.id}"):
        response = site.client.get(path)
        assert response.status_code == 301
        assert response.headers["Location"].endswith(f"/items/{record.id}/{record.slug}")
    assert site.client.get("/items/not-an-id/x").status_code == 404
    assert site.client.get(f"/items/{'0' * 16}/x").status_code == 404


def test_provider_page(site: Site) -> None:
    domain = "statnews.com"
    html = site.client.get(f"/providers/{domain}/").get_data(as_text=True)
    shown = re.findall(r'<h2 class="card-title"><a href="/items/([0-9a-f]{16})/', html)
    expected = [r.id for r in by_newest([r for r in site.public if r.provider.domain == domain])]
    assert shown == expected and shown
    assert site.client.get("/providers/unknown.example/").status_code == 404


def test_hidden_records_never_appear_anywhere_public(site: Site) -> None:
    """Crawl every page and feed a reader can reach; no unpublished record shows up."""
    hidden = site.hidden
    assert hidden
    todo, seen = ["/", "/feeds.opml"], set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = site.client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        for record in hidden:
            assert f"/items/{record.id}" not in body, (path, record.title)
            assert record.id not in body, (path, record.title)
        for link in links_of(body) + re.findall(r'xmlUrl="([^"]+)"', body):
            link = link.replace("https://news.example.org", "")
            if link.startswith("/") and not link.startswith("/static/") and len(seen) < 400:
                todo.append(link)
    assert len(seen) > 40
    for record in hidden:
        assert site.client.get(f"/items/{record.id}/{record.slug}").status_code == 404
        words = " ".join(record.title.split()[:4])
        assert record.id not in site.client.get("/search", query_string={"q": words}).get_data(
            as_text=True)


def test_healthz(site: Site) -> None:
    response = site.client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
    assert response.headers["Cache-Control"] == "no-store"
    assert site.client.get("/healthz").status_code == 200      # the integrity check, cached


def _corrupt_copy(source: Path, target: Path) -> None:
    """A copy of a SQLite database file with some of its pages, in the middle of the
    records' table, overwritten with garbage."""
    import shutil
    import sqlite3

    shutil.copy(source, target)
    with closing(sqlite3.connect(source)) as connection:
        size = connection.execute("PRAGMA page_size").fetchone()[0]
        pages = [n for (n,) in connection.execute(
            "SELECT pageno FROM dbstat WHERE name = 'records' AND pagetype = 'leaf' "
            "ORDER BY pageno")]
    assert len(pages) > 6
    middle = len(pages) // 2
    with target.open("r+b") as f:
        for number in pages[middle - 2:middle + 2]:
            f.seek((number - 1) * size)
            f.write(bytes((i * 37 + 11) % 256 for i in range(size)))


def test_healthz_answers_503_on_a_corrupted_database(tmp_path: Path) -> None:
    # security issue 15, item 9: the probe read one counter and said 200 over broken pages
    from app import create_app
    from app.store.content import import_paths
    from app.store.db import Database
    from tests.conftest import NOW
    from tests.web.conftest import RECORDS, make_settings

    good = Database(f"sqlite:///{tmp_path / 'good.db'}")
    assert import_paths(good, [RECORDS], now=NOW).failed == 0
    good.dispose()                          # the last connection merges the log into the file
    _corrupt_copy(tmp_path / "good.db", tmp_path / "bad.db")
    bad = Database(f"sqlite:///{tmp_path / 'bad.db'}", migrate=False)
    try:
        app = create_app(make_settings(tmp_path), bad, TESTING=True)
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "error" and "integrity" in body["reason"]
        assert response.headers["Cache-Control"] == "no-store"
    finally:
        bad.dispose()


def test_server_errors_get_the_site_error_page_without_details(site: Site) -> None:
    site.app.testing = False

    @site.app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail")

    response = site.client.get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html and 'class="site-header"' in html
    assert "secret detail" not in html and "Traceback" not in html


def test_pages_send_security_headers(site: Site) -> None:
    response = site.client.get("/")
    assert "script-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_related_coverage_links_inside_when_the_story_is_here(site: Site) -> None:
    record = next(r for r in site.public if r.related and r.related[0].web_url)
    target = record.related[0]
    assert target.web_url
    site.save(record.replace(web_url=target.web_url, title=target.title or "Related",
                             related=(), published=True, heat=-1))
    html = site.client.get(f"/items/{record.id}/{record.slug}").get_data(as_text=True)
    assert f'href="/items/{record_id(target.web_url)}/{slugify(target.title or "")}"' in html


def test_links_from_records_cannot_carry_scripts(site: Site) -> None:
    from app.record import Image

    base = site.public[0]
    evil = base.replace(web_url="javascript:alert(1)", amp_web_url="data:text/html,x",
                        images=(Image(url="javascript:alert(2)"),), title="Evil links")
    site.save(evil)
    html = site.client.get(f"/items/{evil.id}/{evil.slug}").get_data(as_text=True)
    assert "javascript:" not in html and "data:text" not in html
    for feed in ("/feed.xml", "/atom.xml", "/feed.json"):
        assert "javascript:" not in site.client.get(feed).get_data(as_text=True)
