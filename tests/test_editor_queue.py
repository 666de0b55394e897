"""The queue and editors' decisions: publish, unpublish, hide (sticky), one record or many,
and the audit log of them."""

from __future__ import annotations

import re
from pathlib import Path

from app.store.content import export_dir
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.repository import RecordRepository, is_hidden, public_record_ids
from tests.editor_fixtures import (
    PUBLISHED,
    QUEUED,
    QUEUED_2,
    QUEUED_3,
    UNKNOWN,
    Clock,
    EditorClient,
    get_record,
)


def public(db: Database, topic: str | None = None) -> list[str]:
    with db.session() as s:
        return public_record_ids(s, topic)


def queue_ids(page: str) -> list[str]:
    return re.findall(r'<li class="item [^"]*" id="r-([0-9a-f]{16})"', page)


def audit(db: Database, target: str) -> list[tuple[str, str]]:
    with db.session() as s:
        entries, _ = EditorialRepository(s).audit_entries(target=target)
    return [(e.actor, e.action) for e in reversed(entries)]


def test_the_queue_lists_unpublished_records_newest_first_with_what_editors_need(
        alice: EditorClient) -> None:
    page = alice.get("/editor/").get_data(as_text=True)
    ids = queue_ids(page)
    assert len(ids) == 12 and QUEUED in ids and PUBLISHED not in ids
    assert "12 records" in page
    item = page.split(f'id="r-{QUEUED}"')[1].split("</li>")[0]
    for shown in ("FDA clears AI tool that flags sepsis risk", "STAT", "quality <b>74</b>",
                  "The Food and Drug Administration has authorized", "AI in Healthcare",
                  "Regulation", 'class="thumb none"'):
        assert shown in item
    assert "statnews.com/wp-content" not in item     # the image is not held: no third party


def test_the_queue_filters_by_topic_provider_source_quality_and_text(
        alice: EditorClient) -> None:
    def ids(query: str) -> list[str]:
        response = alice.get("/editor/?" + query)
        assert response.status_code == 200
        return queue_ids(response.get_data(as_text=True))

    assert set(ids("topic=Drug+Discovery")) == {"620462e46cdfd627"}
    assert set(ids("topic=drug-discovery")) == {"620462e46cdfd627"}        # slug works too
    assert set(ids("provider=statnews.com")) == {QUEUED, "ae2672212c1d8ece"}
    assert set(ids("provider=STAT")) == {QUEUED, "ae2672212c1d8ece"}
    assert set(ids("quality=60")) == {QUEUED, "b0cd830a1f72dee7", "ff1219b2eae0b39a"}
    assert set(ids("q=sepsis")) == {QUEUED}
    assert set(ids("source=https://www.statnews.com/feed/")) == {
        QUEUED, "ae2672212c1d8ece"}
    assert ids("sort=best")[:2] == [QUEUED, "ff1219b2eae0b39a"]            # quality 74, 64
    assert ids("q=no+such+words+anywhere") == []
    assert PUBLISHED in ids("state=published")
    bad = alice.get("/editor/?quality=lots")
    assert bad.status_code == 400 and "quality" in bad.get_data(as_text=True)


def test_the_topic_filter_offers_the_topics_and_ignores_case(alice: EditorClient) -> None:
    page = alice.get("/editor/").get_data(as_text=True)
    assert 'list="topic-names"' in page
    offered = re.findall(r'<option value="([^"]+)">', page.split('id="topic-names"')[1]
                         .split("</datalist>")[0])
    assert {"AI in Healthcare", "Regulation", "Drug Discovery"} <= set(offered)
    exact = queue_ids(alice.get("/editor/?topic=AI+in+Healthcare").get_data(as_text=True))
    assert exact
    for spelling in ("ai in healthcare", "AI IN HEALTHCARE", "Ai In Healthcare"):
        response = alice.get("/editor/", query_string={"topic": spelling})
        assert queue_ids(response.get_data(as_text=True)) == exact, spelling
    bad = alice.get("/editor/?state=bogus")
    assert bad.status_code == 400 and "state" in bad.get_data(as_text=True)


def test_publish_makes_a_record_public_and_puts_it_in_its_topic(alice: EditorClient,
                                                                db: Database) -> None:
    assert QUEUED not in public(db, "AI in Healthcare")
    before = get_record(db, QUEUED)
    response = alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}",
                                                     "back": "/editor/?q=sepsis"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/editor/?q=sepsis"
    assert "Published 1 record." in alice.get("/editor/").get_data(as_text=True)
    assert QUEUED in public(db) and QUEUED in public(db, "AI in Healthcare")
    assert QUEUED in public(db, "regulation")
    after = get_record(db, QUEUED)
    assert after is not None and before is not None and after.published is True
    with db.session() as s:           # the content hash, the validator of caches, changed
        repo = EditorialRepository(s)
        assert repo.version(after) != repo.version(before)
    assert QUEUED not in queue_ids(alice.get("/editor/").get_data(as_text=True))
    assert audit(db, QUEUED) == [("alice", "publish")]


def test_unpublish_takes_a_record_off_the_site_and_off_the_queue(alice: EditorClient,
                                                                 db: Database) -> None:
    assert PUBLISHED in public(db)
    alice.post("/editor/records/decide", {"one": f"unpublish:{PUBLISHED}"})
    assert PUBLISHED not in public(db)
    ids = queue_ids(alice.get("/editor/?state=unpublished").get_data(as_text=True))
    assert ids == [PUBLISHED]


def test_hide_is_gone_everywhere_and_a_refetch_never_brings_it_back(
        alice: EditorClient, db: Database, clock: Clock) -> None:
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    assert QUEUED in public(db, "AI in Healthcare")
    alice.post("/editor/records/decide", {"one": f"hide:{QUEUED}"})
    assert QUEUED not in public(db) and QUEUED not in public(db, "AI in Healthcare")
    assert QUEUED not in queue_ids(alice.get("/editor/").get_data(as_text=True))
    assert queue_ids(alice.get("/editor/?state=hidden").get_data(as_text=True)) == [QUEUED]
    hidden = get_record(db, QUEUED)
    assert hidden is not None and hidden.published is False

    # the same story fetched again, published by an auto-publish rule
    clock.advance(hours=1)
    with db.session() as s:
        RecordRepository(s).save(hidden.replace(published=True, quality=99,
                                                excerpt="Updated by the source."),
                                 now=clock.now)
    refetched = get_record(db, QUEUED)
    assert refetched is not None and refetched.published is False and refetched.quality == 99
    assert QUEUED not in public(db)
    # even deleted and fetched anew, the story stays hidden
    with db.session() as s:
        RecordRepository(s).delete([QUEUED])
    with db.session() as s:
        RecordRepository(s).save(hidden.replace(published=True), now=clock.now)
        assert is_hidden(s, QUEUED)
    assert QUEUED not in public(db)
    # and a flag written behind the editors' back is still filtered out
    with db.session() as s:
        from sqlalchemy import update

        from app.store.models import RecordRow
        s.execute(update(RecordRow).where(RecordRow.id == QUEUED).values(published=True))
    assert QUEUED not in public(db)
    assert audit(db, QUEUED) == [("alice", "publish"), ("alice", "hide")]


def test_publishing_a_hidden_record_is_an_editors_choice(alice: EditorClient,
                                                         db: Database) -> None:
    alice.post("/editor/records/decide", {"one": f"hide:{QUEUED}"})
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    assert QUEUED in public(db)


def test_bulk_actions_apply_to_every_selected_record(alice: EditorClient, db: Database) -> None:
    ids = [QUEUED, QUEUED_2, QUEUED_3]
    response = alice.post("/editor/records/decide", {"ids": ids, "action": "publish"})
    assert response.status_code == 302
    page = alice.get("/editor/").get_data(as_text=True)
    assert "Published 3 records." in page
    assert set(ids) <= set(public(db, "AI in Healthcare"))
    alice.post("/editor/records/decide", {"ids": [QUEUED, QUEUED_2, PUBLISHED],
                                          "action": "hide"})
    assert not {QUEUED, QUEUED_2, PUBLISHED} & set(public(db))
    assert QUEUED_3 in public(db)
    again = alice.post("/editor/records/decide", {"ids": [QUEUED, QUEUED_3],
                                                  "action": "hide"})
    assert again.status_code == 302
    assert "Hid 1 record. 1 already were." in alice.get("/editor/").get_data(as_text=True)
    with db.session() as s:
        entries, _ = EditorialRepository(s).audit_entries(actor="alice")
    assert sum(1 for e in entries if e.action in ("publish", "hide")) == 7


def test_a_bulk_action_with_an_unknown_id_changes_nothing(alice: EditorClient,
                                                          db: Database) -> None:
    response = alice.post("/editor/records/decide",
                          {"ids": [QUEUED, UNKNOWN, QUEUED_2], "action": "publish"})
    assert response.status_code == 404
    text = response.get_data(as_text=True)
    assert f"no record with id &#39;{UNKNOWN}&#39;" in text and "Nothing was changed" in text
    assert not {QUEUED, QUEUED_2} & set(public(db))
    assert audit(db, QUEUED) == []
    for data in ({"ids": ["../../etc"], "action": "publish"},
                 {"ids": [QUEUED], "action": "delete"}, {"action": "publish"}):
        bad = alice.post("/editor/records/decide", data)
        assert bad.status_code in (400, 404)
        assert 'id="error-message"' in bad.get_data(as_text=True)
    assert QUEUED not in public(db)


def test_the_audit_log_is_for_admins(alice: EditorClient, root: EditorClient,
                                     db: Database) -> None:
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    root.post("/editor/records/decide", {"one": f"hide:{QUEUED_2}"})
    assert alice.get("/editor/audit").status_code == 403
    page = root.get("/editor/audit").get_data(as_text=True)
    rows = re.findall(r'<tr class="audit-(\w+)">\s*<td>[^<]+</td>\s*<td>(\w+)</td>', page)
    assert rows[:2] == [("hide", "root"), ("publish", "alice")]
    assert QUEUED in page and "FDA clears AI tool" in page
    only = root.get(f"/editor/audit?target={QUEUED}").get_data(as_text=True)
    assert QUEUED_2 not in only


def test_decisions_reach_the_exported_record_files(alice: EditorClient, db: Database,
                                                   tmp_path: Path) -> None:
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    export_dir(db, tmp_path / "out")
    text = (tmp_path / "out/2024/2024-04-03-fda-clears-ai-tool-that-flags-sepsis-risk-in-"
                       "emergency-departments.md").read_text(encoding="utf-8")
    assert "\npublished: true\n" in text


HOSTILE_URLS = [
    "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
    "java\tscript:alert(1)", "\x01javascript:alert(1)", "data:text/html,<script>1</script>",
    "vbscript:msgbox(1)", "//evil.example/x", "/\\evil.example/x", "\\\\evil.example/x",
    "/\t/evil.example/x", "\\/evil.example/x",
]


def test_hostile_record_urls_never_reach_an_href_on_the_editor_pages(
        alice: EditorClient, db: Database, tmp_path: Path, clock: Clock) -> None:
    # security issue 15, item 9: an imported record's webUrl went into href as it was
    import html as htmllib

    from app.record import parse_record, record_id
    from app.store.content import import_paths
    from tests.editor_fixtures import DATA

    source = (DATA / "records" / "01-canonical-full.md").read_text(encoding="utf-8")
    folder = tmp_path / "hostile"
    folder.mkdir()
    canonical = "https://www.statnews.com/2024/04/03/sepsis-ai-fda-clearance-emergency-department/"
    for i, url in enumerate(HOSTILE_URLS):
        quoted = url.replace("\\", "\\\\").replace("\t", "\\t").replace("\x01", "\\x01") \
            .replace('"', '\\"')
        text = source.replace(f'webUrl: "{canonical}"', f'webUrl: "{quoted}"').replace(
            "FDA clears AI tool", f"Hostile {i} tool")
        (folder / f"hostile-{i}.md").write_text(text, encoding="utf-8")
        assert parse_record(text.encode()).web_url == url
    report = import_paths(db, [folder], now=clock.now)
    assert report.failed == 0, report.errors
    queue = alice.get("/editor/", query_string={"q": "Hostile"}).get_data(as_text=True)
    pages = [queue] + [alice.get(f"/editor/records/{record_id(url)}").get_data(as_text=True)
                       for url in HOSTILE_URLS]
    assert all("Hostile" in page for page in pages)
    for page in pages:
        for attr in re.findall(r'(?:href|src)="([^"]*)"', page):
            target = htmllib.unescape(attr)
            squeezed = re.sub(r"[\x00-\x20]", "", target).lower()
            assert not squeezed.startswith(("javascript:", "data:", "vbscript:")), target
            assert not re.match(r"^[/\\]{2}", squeezed), target
    assert 'href="#" rel="noopener noreferrer" target="_blank">original' in queue


def test_safe_url_keeps_web_links_and_site_paths_only() -> None:
    from app.web.markup import safe_url

    for url in [*HOSTILE_URLS, "", None, "mailto:a@b.example", "relative/path", "\x7f/x",
                               "https://ok.example/\nx", " \t", "/x\x00y"]:
        assert safe_url(url) == "#", url
    for url in ("https://ok.example/a?b=c#d", "HTTP://ok.example/", "/items/abc/slug",
                "/", "/search?q=a%20b"):
        assert safe_url(url) == url
    assert safe_url("  https://ok.example/\n") == "https://ok.example/"
