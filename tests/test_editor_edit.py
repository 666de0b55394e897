"""Editing a record: title, excerpt, topics and notes; original values stay visible; bad input
(an unknown id, a stale form, an oversized field, HTML in a title) is refused or made safe and
changes nothing else."""

from __future__ import annotations

import html
import re
from pathlib import Path

from app.store.content import export_dir
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.repository import RecordRepository
from tests.editor_fixtures import QUEUED, UNKNOWN, Clock, EditorClient, get_record

ORIGINAL_TITLE = "FDA clears AI tool that flags sepsis risk in emergency departments"


def form(client: EditorClient, rid: str = QUEUED) -> dict[str, str]:
    page = client.get(f"/editor/records/{rid}").get_data(as_text=True)

    def field(name: str) -> str:
        m = re.search(rf'<input id="{name}" name="{name}" value="([^"]*)"', page) or \
            re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
        assert m, name
        return html.unescape(m.group(1))

    version = re.search(r'name="version" value="([0-9a-f]+)"', page)
    assert version
    return {"title": field("title"), "excerpt": field("excerpt"), "topics": field("topics"),
            "notes": field("notes"), "version": version.group(1)}


def snapshot(db: Database) -> tuple[object, list[object], object]:
    with db.session() as s:
        repo = EditorialRepository(s)
        return repo.records.get(QUEUED), repo.edits(QUEUED), repo.review(QUEUED)


def test_an_edit_saves_the_record_and_keeps_the_originals_visible(
        alice: EditorClient, db: Database, tmp_path: Path) -> None:
    data = form(alice)
    assert data["title"] == ORIGINAL_TITLE and data["topics"] == "AI in Healthcare\nRegulation"
    data.update(title="FDA clears sepsis AI for emergency rooms",
                topics="AI in Healthcare\nRegulation\nSepsis", notes="Check with STAT.")
    response = alice.post(f"/editor/records/{QUEUED}", data)
    assert response.status_code == 302
    page = alice.get(f"/editor/records/{QUEUED}").get_data(as_text=True)
    assert "Saved: title, topics, notes." in page
    assert f"Original: <q>{ORIGINAL_TITLE}</q>" in page
    assert "Original: AI in Healthcare, Regulation" in page
    record = get_record(db, QUEUED)
    assert record is not None
    assert record.title == "FDA clears sepsis AI for emergency rooms"
    assert record.topics == ("AI in Healthcare", "Regulation", "Sepsis")
    assert record.published is False                   # editing does not publish
    with db.session() as s:
        assert EditorialRepository(s).review(QUEUED).notes == "Check with STAT."  # type: ignore[union-attr]
    export_dir(db, tmp_path / "out")                   # the record file follows
    files = list((tmp_path / "out/2024").glob("2024-04-03-fda-clears-sepsis-ai*.md"))
    assert len(files) == 1
    text = files[0].read_text(encoding="utf-8")
    assert 'title: "FDA clears sepsis AI for emergency rooms"' in text and "  - Sepsis" in text
    assert "Check with STAT." not in text              # notes are private


def test_edits_stick_when_the_story_is_fetched_again(alice: EditorClient, db: Database,
                                                     clock: Clock) -> None:
    fetched = get_record(db, QUEUED)
    data = form(alice)
    data["title"] = "Edited title"
    alice.post(f"/editor/records/{QUEUED}", data)
    clock.advance(hours=2)
    assert fetched is not None
    with db.session() as s:
        RecordRepository(s).save(fetched.replace(quality=80), now=clock.now)
    record = get_record(db, QUEUED)
    assert record is not None and record.title == "Edited title" and record.quality == 80


def test_html_in_a_title_is_stored_as_text_and_shown_escaped(alice: EditorClient,
                                                             db: Database) -> None:
    data = form(alice)
    data["title"] = '<script>alert("x")</script> <b>Bold</b>\n claim'
    assert alice.post(f"/editor/records/{QUEUED}", data).status_code == 302
    record = get_record(db, QUEUED)
    assert record is not None
    assert record.title == '<script>alert("x")</script> <b>Bold</b> claim'
    for page in (alice.get(f"/editor/records/{QUEUED}"), alice.get("/editor/")):
        text = page.get_data(as_text=True)
        assert "&lt;script&gt;alert(" in text and "&lt;b&gt;Bold&lt;/b&gt;" in text
        assert "<script>alert" not in text and "<b>Bold</b>" not in text


def test_an_oversized_field_is_refused_and_changes_nothing(alice: EditorClient,
                                                           db: Database) -> None:
    before = snapshot(db)
    for name, value in (("title", "x" * 501), ("excerpt", "y" * 5001),
                        ("topics", "\n".join(f"t{i}" for i in range(21))),
                        ("topics", "z" * 101), ("notes", "n" * 10001), ("title", "   ")):
        data = form(alice)
        data[name] = value
        response = alice.post(f"/editor/records/{QUEUED}", data)
        assert response.status_code == 400, name
        text = response.get_data(as_text=True)
        assert f"<strong>{name}</strong>:" in text and "Nothing was saved." in text
        assert value[:50] in text or name == "title"     # what was typed is not lost
    huge = alice.post(f"/editor/records/{QUEUED}", {**form(alice), "excerpt": "e" * 3_000_000})
    assert huge.status_code == 413
    assert "The form is too large" in huge.get_data(as_text=True)
    assert snapshot(db) == before


def test_a_stale_form_is_refused_and_changes_nothing(alice: EditorClient, root: EditorClient,
                                                     db: Database) -> None:
    mine, theirs = form(alice), form(root)
    theirs["title"] = "Root was first"
    assert root.post(f"/editor/records/{QUEUED}", theirs).status_code == 302
    before = snapshot(db)
    mine["title"] = "Alice overwrites"
    response = alice.post(f"/editor/records/{QUEUED}", mine)
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "changed by someone else since you opened it" in text
    assert 'value="Alice overwrites"' in text            # her text is still in the form
    assert snapshot(db) == before
    # a publish in between also makes the form stale
    fresh = form(alice)
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    fresh["title"] = "Too late"
    assert alice.post(f"/editor/records/{QUEUED}", fresh).status_code == 409


def test_an_unknown_record_id_gets_a_clear_message(alice: EditorClient, db: Database) -> None:
    for response in (alice.get(f"/editor/records/{UNKNOWN}"),
                     alice.post(f"/editor/records/{UNKNOWN}", {"title": "x", "version": "0"})):
        assert response.status_code == 404
        assert f"no record with id &#39;{UNKNOWN}&#39;" in response.get_data(as_text=True)
    page = alice.get("/editor/records/<script>")
    assert page.status_code == 404 and "<script>" not in page.get_data(as_text=True)


def test_unchanged_fields_are_not_recorded_as_edits(alice: EditorClient, db: Database) -> None:
    assert alice.post(f"/editor/records/{QUEUED}", form(alice)).status_code == 302
    assert "Nothing changed." in alice.get(f"/editor/records/{QUEUED}").get_data(as_text=True)
    with db.session() as s:
        assert EditorialRepository(s).edits(QUEUED) == []
