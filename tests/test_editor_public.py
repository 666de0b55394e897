"""What editors decide, as readers see it on the public pages: a published record appears on
its topic page and in the topic's feed at once (with new cache validators); a hidden one is
gone everywhere, and a re-fetch of the same story does not bring it back.

"""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from app.store.db import Database
from app.store.repository import RecordRepository
from tests.editor_fixtures import PUBLISHED, QUEUED, Clock, EditorClient, get_record

TOPIC = "ai-in-healthcare"                 # slug of "AI in Healthcare", a topic of QUEUED
TITLE = "FDA clears AI tool that flags sepsis risk"


def site(alice: EditorClient) -> FlaskClient:
    reader = alice.client.application.test_client()
    assert reader.get(f"/topics/{TOPIC}/").status_code == 200    # a product failure, never a skip
    return reader


def pages(reader: FlaskClient) -> dict[str, str]:
    return {path: reader.get(path).get_data(as_text=True)
            for path in (f"/topics/{TOPIC}/", f"/topics/{TOPIC}/feed.xml", "/")}


def test_publish_shows_the_record_to_readers_and_in_the_topic_feed(
        alice: EditorClient) -> None:
    reader = site(alice)
    before = reader.get(f"/topics/{TOPIC}/")
    assert all(TITLE not in text for text in pages(reader).values())
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    for path, text in pages(reader).items():
        assert TITLE in text, path
    after = reader.get(f"/topics/{TOPIC}/")
    if before.headers.get("ETag"):
        assert after.headers.get("ETag") != before.headers["ETag"]
    if before.headers.get("Last-Modified") and after.headers.get("Last-Modified"):
        assert (after.headers["Last-Modified"], after.headers.get("ETag")) != (
            before.headers["Last-Modified"], before.headers.get("ETag"))


def test_hide_removes_the_record_everywhere_even_after_a_refetch(
        alice: EditorClient, db: Database, clock: Clock) -> None:
    reader = site(alice)
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    assert TITLE in reader.get(f"/topics/{TOPIC}/").get_data(as_text=True)
    alice.post("/editor/records/decide", {"one": f"hide:{QUEUED}"})
    record = get_record(db, QUEUED)
    assert record is not None
    clock.advance(hours=1)
    with db.session() as s:                     # the same story fetched and auto-published
        RecordRepository(s).save(record.replace(published=True), now=clock.now)
    for path, text in pages(reader).items():
        assert TITLE not in text, path
    item = reader.get(f"/items/{QUEUED}/{record.slug}")
    assert item.status_code in (404, 410)


def search_ids(reader: FlaskClient, query: str) -> set[str]:
    response = reader.get("/search", query_string={"q": query})
    assert response.status_code == 200
    return set(re.findall(r'<h2 class="card-title"><a href="/items/([0-9a-f]{16})/',
                          response.get_data(as_text=True)))


def test_hiding_one_record_leaves_search_finding_the_others(alice: EditorClient) -> None:
    # security issue 15, item 3: the "not hidden" half of the public condition once ran in the
    # search query uncorrelated, so one hidden record made every search come back empty
    reader = site(alice)
    before = search_ids(reader, "model")
    assert PUBLISHED in before and len(before) > 3
    alice.post("/editor/records/decide", {"one": f"hide:{PUBLISHED}"})
    after = search_ids(reader, "model")
    assert after == before - {PUBLISHED}
    assert PUBLISHED not in search_ids(reader, "pancreatic")
    assert search_ids(reader, "Alzheimer")
