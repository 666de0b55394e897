"""Editor notes live inside the record's `secured` value when it opens with our keys, and in the
database otherwise (no secured value, or a foreign one, which stays exactly as it was); the edit
page, the API and stale-form detection read them from wherever they live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.editors import RecordChanges
from app.keystore import forget_keyrings, load_keyring
from app.secured import Keyring, editor_notes, read_private, write_private
from app.store.content import export_dir
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.models import RecordReviewRow
from app.store.repository import RecordRepository
from tests.editor_fixtures import QUEUED, Clock, EditorClient, add_token, get_record
from tests.test_editor_api import Api
from tests.test_editor_edit import form

NOTE = "Call the FDA press office before publishing."
FOREIGN = "SmD608Rk0b7mJq3c1Vv2yQ9pXhL4tN8eWfZu6aGsKdE=;4A00GbaaqwY6jCAJzfb2kA=="


@pytest.fixture(autouse=True)
def _fresh_keyrings() -> Iterator[None]:
    forget_keyrings()
    yield
    forget_keyrings()


def keyring(editor_app: Flask, db: Database) -> Keyring:
    return load_keyring(db, editor_app.extensions["newsdesk.settings"])


def set_secured(db: Database, clock: Clock, secured: str | None) -> None:
    record = get_record(db, QUEUED)
    assert record is not None
    with db.session() as s:
        RecordRepository(s).save(record.replace(secured=secured), now=clock.now)


def own_secured(editor_app: Flask, db: Database, clock: Clock) -> Keyring:
    keys = keyring(editor_app, db)
    record = get_record(db, QUEUED)
    assert record is not None
    mine = write_private(record.replace(secured=None),
                         {"sourceFeed": "https://example.com/feed"}, keys)
    set_secured(db, clock, mine.secured)
    return keys


def db_notes(db: Database) -> str | None:
    with db.session() as s:
        return s.execute(select(RecordReviewRow.notes)
                         .where(RecordReviewRow.record_id == QUEUED)).scalar_one_or_none()


def shown(alice: EditorClient, api: Api) -> tuple[str, str]:
    """The notes on the edit page and in the API."""
    return form(alice)["notes"], api.get(f"/records/{QUEUED}").json["notes"]


def test_notes_go_inside_our_secured_value_and_never_into_an_export(
        editor_app: Flask, alice: EditorClient, db: Database, clock: Clock,
        tmp_path: Path) -> None:
    keys = own_secured(editor_app, db, clock)
    data = form(alice)
    data["notes"] = NOTE
    assert alice.post(f"/editor/records/{QUEUED}", data).status_code == 302
    record = get_record(db, QUEUED)
    assert record is not None
    assert read_private(record, keys) == {"sourceFeed": "https://example.com/feed",
                                          "notes": NOTE}
    assert NOTE not in (record.secured or "")
    assert not db_notes(db)                               # no plain copy in the review row
    api = Api(editor_app, add_token(db, "alice", now=clock.now))
    assert shown(alice, api) == (NOTE, NOTE)
    with db.session() as s:
        repo = EditorialRepository(s)
        assert [(e.field, e.new) for e in repo.edits(QUEUED)] == [("notes", NOTE)]
        entries, _ = repo.audit_entries(target=QUEUED)
        assert entries[0].action == "edit" and entries[0].details["fields"] == ["notes"]
    export_dir(db, tmp_path / "out")
    exported = [p.read_text(encoding="utf-8") for p in (tmp_path / "out").rglob("*.md")]
    assert any(record.secured in text for text in exported if record.secured)
    assert not any(NOTE in text for text in exported)
    # clearing the notes takes them out of secured and leaves the rest
    data = form(alice)
    data["notes"] = ""
    assert alice.post(f"/editor/records/{QUEUED}", data).status_code == 302
    record = get_record(db, QUEUED)
    assert record is not None
    assert read_private(record, keys) == {"sourceFeed": "https://example.com/feed"}
    assert shown(alice, api) == ("", "")


def test_notes_of_a_record_without_secured_stay_in_the_database(
        editor_app: Flask, alice: EditorClient, db: Database, clock: Clock) -> None:
    set_secured(db, clock, None)
    data = form(alice)
    data["notes"] = NOTE
    assert alice.post(f"/editor/records/{QUEUED}", data).status_code == 302
    record = get_record(db, QUEUED)
    assert record is not None and record.secured is None
    assert db_notes(db) == NOTE
    api = Api(editor_app, add_token(db, "alice", now=clock.now))
    assert shown(alice, api) == (NOTE, NOTE)


@pytest.mark.parametrize("foreign", [FOREIGN, None], ids=["seed-like", "from-the-corpus"])
def test_notes_of_a_record_with_a_foreign_secured_stay_in_the_database(
        editor_app: Flask, alice: EditorClient, db: Database, clock: Clock,
        foreign: str | None) -> None:
    if foreign is not None:
        set_secured(db, clock, foreign)
    before = get_record(db, QUEUED)
    assert before is not None and before.secured
    assert read_private(before, keyring(editor_app, db)) is None
    api = Api(editor_app, add_token(db, "alice", now=clock.now))
    response = api.patch(f"/records/{QUEUED}", {"notes": NOTE,
                                                 "version": api.get(f"/records/{QUEUED}")
                                                 .json["version"]})
    assert response.status_code == 200 and response.json["changed"] == ["notes"]
    after = get_record(db, QUEUED)
    assert after is not None and after.secured == before.secured   # byte for byte
    assert db_notes(db) == NOTE
    assert shown(alice, api) == (NOTE, NOTE)


def test_a_stale_form_is_refused_when_notes_live_in_secured(
        editor_app: Flask, alice: EditorClient, root: EditorClient, db: Database,
        clock: Clock) -> None:
    keys = own_secured(editor_app, db, clock)
    mine, theirs = form(alice), form(root)
    theirs["notes"] = "Root's note"
    assert root.post(f"/editor/records/{QUEUED}", theirs).status_code == 302
    mine["notes"] = "Alice's note"
    response = alice.post(f"/editor/records/{QUEUED}", mine)
    assert response.status_code == 409
    record = get_record(db, QUEUED)
    assert record is not None and editor_notes(record, keys) == "Root's note"
    # the API's version follows the notes in secured too
    api = Api(editor_app, add_token(db, "alice", now=clock.now))
    version = api.get(f"/records/{QUEUED}").json["version"]
    assert api.patch(f"/records/{QUEUED}", {"notes": "one", "version": version}
                     ).status_code == 200
    assert api.patch(f"/records/{QUEUED}", {"notes": "two", "version": version}
                     ).status_code == 409
    assert shown(alice, api) == ("one", "one")


def test_without_a_keyring_notes_stay_in_the_database(
        editor_app: Flask, db: Database, clock: Clock) -> None:
    keys = own_secured(editor_app, db, clock)
    before = get_record(db, QUEUED)
    with db.session() as s:
        repo = EditorialRepository(s)
        version = repo.version(before)  # type: ignore[arg-type]
        assert repo.edit(QUEUED, RecordChanges(notes=NOTE), version=version, actor="alice",
                         now=clock.now) == ["notes"]
    after = get_record(db, QUEUED)
    assert after is not None and before is not None and after.secured == before.secured
    assert editor_notes(after, keys) == "" and db_notes(db) == NOTE
