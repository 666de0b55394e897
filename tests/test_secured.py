"""The `secured` field: encryption round trip, tampering, key rotation without downtime, foreign
values kept as they are, and no plaintext in exported files."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from app.config import Settings
from app.errors import ConfigError
from app.keystore import forget_keyrings, load_keyring, rotate_keys
from app.record import Provider, Record, parse_record
from app.secured import (
    Keyring,
    SecuredError,
    editor_notes,
    read_private,
    with_editor_notes,
    write_private,
)
from app.store.content import export_dir, import_paths
from app.store.db import Database
from app.store.repository import RecordRepository
from tests.conftest import NOW, SHARED

VALUE_RX = re.compile(r"^[A-Za-z0-9+/]+=*;[A-Za-z0-9+/]+=*$")
SECRET_TEXT = "Editor: call the source back — embargo until Friday"


@pytest.fixture(autouse=True)
def _fresh_keyrings() -> None:
    forget_keyrings()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({}, data_dir=tmp_path, secret_key="test-master-secret")


def a_record(n: int = 0) -> Record:
    return Record(title=f"Story {n}", web_url=f"https://example.com/{n}", published_at=NOW,
                  provider=Provider(name="Example", domain="example.com"), topics=("AI",))


def keyring() -> Keyring:
    return Keyring((bytes(range(32)),))


def test_private_data_round_trips_and_the_value_has_the_format_shape() -> None:
    data = {"sourceFeed": "https://example.com/feed.xml", "entryId": "tag:1",
            "mainText": "Long text…", "notes": SECRET_TEXT}
    record = write_private(a_record(), data, keyring())
    assert record.secured is not None and VALUE_RX.match(record.secured)
    assert SECRET_TEXT not in record.secured and "example.com/feed" not in record.secured
    assert read_private(record, keyring()) == data
    assert editor_notes(record, keyring()) == SECRET_TEXT
    # a second write merges, and two encryptions of the same data differ (fresh IV)
    again = with_editor_notes(record, "new note", keyring())
    assert read_private(again, keyring()) == {**data, "notes": "new note"}
    assert write_private(a_record(), data, keyring()).secured != record.secured


def test_a_tampered_value_is_detected_and_kept() -> None:
    record = write_private(a_record(), {"notes": "x"}, keyring())
    assert record.secured is not None
    sealed, iv = record.secured.split(";")
    flipped = ("A" if sealed[5] != "A" else "B")
    tampered = record.replace(secured=sealed[:5] + flipped + sealed[6:] + ";" + iv)
    with pytest.raises(SecuredError, match="does not decrypt"):
        keyring().decrypt(tampered.secured or "")
    assert read_private(tampered, keyring()) is None
    assert editor_notes(tampered, keyring()) == ""
    with pytest.raises(SecuredError, match="base64"):
        keyring().decrypt("not a secured value")


def test_a_foreign_value_is_kept_inside_a_new_payload() -> None:
    foreign = "SmD608jcYWorBBc47XRjylkSrE8lTxukdqCk8qeu07U2=;4A00GbaaqwY6jCAJzfb2kA=="
    record = a_record().replace(secured=foreign)
    assert read_private(record, keyring()) is None
    noted = with_editor_notes(record, "checked", keyring())
    assert read_private(noted, keyring()) == {"importedSecured": foreign, "notes": "checked"}


def _save(db: Database, records: list[Record]) -> None:
    with db.session() as session:
        repo = RecordRepository(session)
        for record in records:
            repo.save(record, now=NOW)


def _all(db: Database) -> list[Record]:
    with db.session() as session:
        return list(RecordRepository(session).iter_all())


def test_rotation_leaves_every_record_readable_under_the_new_key_only(
        db: Database, settings: Settings) -> None:
    old = load_keyring(db, settings)
    records = [write_private(a_record(n), {"notes": f"note {n}"}, old) for n in range(450)]
    _save(db, records)
    written_meanwhile: list[Record] = []

    def during_grace(_seconds: float) -> None:
        # a process whose cached keyring is still the old one writes during the rotation
        late = write_private(a_record(999), {"notes": "written with the old key"}, old)
        _save(db, [late])
        written_meanwhile.append(late)

    report = rotate_keys(db, settings, now=NOW + timedelta(hours=1), sleep=during_grace)
    assert report.reencrypted == 451 and report.foreign == 0 and report.retired_keys == 1
    new = load_keyring(db, settings)
    assert len(new.keys) == 1 and new.keys[0] not in old.keys
    stored = _all(db)
    assert len(stored) == 451
    for record in stored:
        data = read_private(record, new)
        assert data is not None and data["notes"].startswith(("note ", "written with"))
        assert read_private(record, old) is None          # the old key no longer opens it
    # the content hash follows the new text: saving the same record again is "unchanged"
    with db.session() as session:
        again = RecordRepository(session).save(stored[0], now=NOW)
    assert again.outcome == "unchanged"


def test_during_rotation_both_keys_decrypt(db: Database, settings: Settings) -> None:
    old = load_keyring(db, settings)
    _save(db, [write_private(a_record(1), {"notes": "a"}, old)])
    seen: list[Keyring] = []
    rotate_keys(db, settings, sleep=lambda _s: seen.append(load_keyring(db, settings,
                                                                        fresh=True)))
    during = seen[0]
    assert len(during.keys) == 2 and during.keys[1] == old.keys[0]
    fresh = write_private(a_record(2), {"notes": "b"}, during)
    assert read_private(fresh, Keyring((during.keys[0],))) == {"notes": "b"}


def test_a_foreign_value_survives_import_rotation_and_export(
        db: Database, settings: Settings, tmp_path: Path) -> None:
    seeds = sorted((SHARED / "format" / "seeds").glob("00[0-3]_*.txt"))
    if not seeds:
        pytest.skip("the shared format folder is not here")
    parsed = [parse_record(p.read_text(encoding="utf-8")) for p in seeds]
    originals = {r.web_url: r.secured for r in parsed}
    assert import_paths(db, seeds, now=NOW).failed == 0
    mine = write_private(a_record(7), {"notes": SECRET_TEXT}, load_keyring(db, settings))
    _save(db, [mine])
    report = rotate_keys(db, settings, grace=0)
    assert report.foreign == len(seeds) and report.reencrypted == 1
    out = tmp_path / "out"
    export_dir(db, out)
    exported = {parse_record(p.read_text(encoding="utf-8")).web_url: p for p in out.rglob("*.md")}
    for url, value in originals.items():
        assert parse_record(exported[url].read_text(encoding="utf-8")).secured == value
    for path in out.rglob("*.md"):          # exported files never hold the plaintext
        assert SECRET_TEXT not in path.read_text(encoding="utf-8")
    assert editor_notes(parse_record(exported[mine.web_url].read_text(encoding="utf-8")),
                        load_keyring(db, settings)) == SECRET_TEXT


def test_a_changed_master_secret_is_reported_by_name(db: Database, settings: Settings,
                                                     tmp_path: Path) -> None:
    load_keyring(db, settings)
    forget_keyrings()
    other = Settings.from_env({}, data_dir=tmp_path, secret_key="another-secret")
    with pytest.raises(ConfigError, match="NEWSDESK_SECRET_KEY"):
        load_keyring(db, other)


def test_keys_in_the_database_are_wrapped(db: Database, settings: Settings) -> None:
    keyring = load_keyring(db, settings)
    from app.store.repository import EnrichmentRepository
    with db.session() as session:
        rows = EnrichmentRepository(session).secured_keys()
    import base64
    assert len(rows) == 1 and VALUE_RX.match(rows[0][1])
    assert base64.b64encode(keyring.keys[0]).decode() not in rows[0][1]
    assert "<1 keys>" in repr(keyring) and str(keyring.keys[0]) not in repr(keyring)


def test_an_interrupted_rotation_is_finished_by_the_next(db: Database,
                                                         settings: Settings) -> None:
    from app.keystore import _wrapping_keyring
    from app.store.repository import EnrichmentRepository

    old = load_keyring(db, settings)
    _save(db, [write_private(a_record(n), {"notes": "x"}, old) for n in range(3)])
    with db.session() as session:        # a rotation that stopped after adding its key
        EnrichmentRepository(session).add_secured_key(
            _wrapping_keyring(settings).encrypt(bytes(range(32))), now=NOW)
    report = rotate_keys(db, settings, grace=0)
    assert (report.reencrypted, report.retired_keys) == (3, 2)
    new = load_keyring(db, settings, fresh=True)
    assert len(new.keys) == 1 and new.keys[0] not in (bytes(range(32)), *old.keys)
    assert all(read_private(r, new) == {"notes": "x"} for r in _all(db))
