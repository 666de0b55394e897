"""HTTP caching: validators from the newest change, 304 without rendering, 200 after a change,
Cache-Control for pollers, gzip."""

from __future__ import annotations

import gzip
from email.utils import format_datetime

import pytest

from tests.web.conftest import Site

TOPIC = "/topics/medical-imaging/"


def in_topic(site: Site, name: str = "Medical Imaging") -> list:
    return [r for r in site.public if name in r.topics]


@pytest.mark.parametrize("path", [TOPIC + "feed.xml", TOPIC + "atom.xml", TOPIC + "feed.json",
                                  TOPIC, "/", "/feed.xml", "/feeds.opml", "/topics/"])
def test_unchanged_is_304_and_a_change_in_the_topic_is_200(site: Site, path: str) -> None:
    first = site.client.get(path)
    assert first.status_code == 200
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age=" in first.headers["Cache-Control"]
    again = site.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    since = site.client.get(path, headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    record = in_topic(site)[0]
    site.save(record.replace(title=record.title + " (updated)"), minutes=5)
    changed = site.client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    if path not in ("/feeds.opml", "/topics/"):
        assert "(updated)" in changed.get_data(as_text=True)
    assert site.client.get(path, headers={"If-Modified-Since": modified}).status_code == 200


def test_a_change_in_another_topic_leaves_the_feed_validator_alone(site: Site) -> None:
    path = TOPIC + "feed.xml"
    etag = site.client.get(path).headers["ETag"]
    other = next(r for r in site.public if "Medical Imaging" not in r.topics)
    site.save(other.replace(title=other.title + " (updated)"), minutes=5)
    assert site.client.get(path, headers={"If-None-Match": etag}).status_code == 304


def test_unpublishing_a_record_changes_the_validator(site: Site) -> None:
    path = TOPIC + "feed.xml"
    etag = site.client.get(path).headers["ETag"]
    record = in_topic(site)[0]
    site.save(record.replace(published=False), minutes=5)
    response = site.client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert record.id not in response.get_data(as_text=True)


def test_304_is_answered_without_rendering(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    feed, page = TOPIC + "feed.xml", TOPIC
    feed_tag = site.client.get(feed).headers["ETag"]
    page_tag = site.client.get(page).headers["ETag"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered for a conditional request")

    import app.web.public as public
    import app.web.syndication as syndication

    monkeypatch.setattr(syndication, "_render_feed", refuse)
    monkeypatch.setattr(site.app.extensions["newsdesk.feed_bodies"], "get", refuse)
    monkeypatch.setattr(site.app.extensions["newsdesk.page_bodies"], "get", refuse)
    monkeypatch.setattr(public, "render_template", refuse)
    monkeypatch.setattr(public.ReaderRepository, "topic_records", refuse)
    assert site.client.get(feed, headers={"If-None-Match": feed_tag}).status_code == 304
    assert site.client.get(page, headers={"If-None-Match": page_tag}).status_code == 304


def test_record_page_304_and_200_after_its_change(site: Site) -> None:
    record = in_topic(site)[0]
    path = f"/items/{record.id}/{record.slug}"
    etag = site.client.get(path).headers["ETag"]
    assert site.client.get(path, headers={"If-None-Match": etag}).status_code == 304
    site.save(record.replace(excerpt="A new excerpt."), minutes=5)
    assert site.client.get(path, headers={"If-None-Match": etag}).status_code == 200


def test_feeds_tell_pollers_how_often_to_come_back(site: Site) -> None:
    response = site.client.get("/feed.xml")
    assert response.headers["Cache-Control"] == "public, max-age=900"
    assert site.client.get("/").headers["Cache-Control"] == "public, max-age=60"


def test_last_modified_is_the_newest_change(site: Site) -> None:
    from datetime import timedelta

    from tests.conftest import NOW

    record = in_topic(site)[0]
    site.save(record.replace(title="Changed"), minutes=42)
    response = site.client.get(TOPIC + "feed.xml")
    assert response.headers["Last-Modified"] == format_datetime(NOW + timedelta(minutes=42),
                                                                usegmt=True)


def test_gzip(site: Site) -> None:
    plain = site.client.get("/feed.xml")
    zipped = site.client.get("/feed.xml", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == plain.data
    assert len(zipped.data) < len(plain.data) / 2
    assert zipped.headers["ETag"] != plain.headers["ETag"]
    for tag in (zipped.headers["ETag"], plain.headers["ETag"]):
        again = site.client.get("/feed.xml", headers={"If-None-Match": tag,
                                                       "Accept-Encoding": "gzip"})
        assert again.status_code == 304
    page = site.client.get("/", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert b"<html" in gzip.decompress(page.data)


def test_mark_site_changed_drops_cached_validators(site: Site) -> None:
    from app.store.repository import mark_site_changed

    etag = site.client.get("/").headers["ETag"]
    with site.db.session() as session:     # e.g. an editor's hide table changed
        mark_site_changed(session)
    # the stamp is recomputed; nothing about the records changed, so the ETag stays valid
    assert site.client.get("/", headers={"If-None-Match": etag}).status_code == 304


def test_repeated_conditional_requests_are_answered_before_flask(site: Site) -> None:
    path = TOPIC + "feed.xml"
    first = site.client.get(path, headers={"Accept-Encoding": "gzip"})
    etag = first.headers["ETag"]
    view = site.app.view_functions["syndication.rss_topic"]

    def refuse(**kwargs: object) -> None:
        raise AssertionError("Flask ran for a request the shortcut can answer")

    site.app.view_functions["syndication.rss_topic"] = refuse
    again = site.client.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == "public, max-age=900"
    assert again.headers["Last-Modified"] == first.headers["Last-Modified"]
    site.app.view_functions["syndication.rss_topic"] = view
    record = in_topic(site)[0]
    site.save(record.replace(title="Changed again"), minutes=9)
    changed = site.client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "Changed again" in changed.get_data(as_text=True)
    # a visitor with a cookie (an editor) always goes through Flask
    site.client.set_cookie("session", "x")
    site.app.view_functions["syndication.rss_topic"] = refuse
    new_tag = changed.headers["ETag"]
    try:
        site.client.get(path, headers={"If-None-Match": new_tag})
    except AssertionError as exc:
        assert "Flask ran" in str(exc)
    else:
        raise AssertionError("the request with a cookie did not reach Flask")
