"""Records in the database and the content/ folder: import, export, identity, bad input.
Runs on SQLite, and on PostgreSQL when NEWSDESK_TEST_DATABASE_URL is set."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.record import dump_record, parse_record
from app.store.content import export_dir, import_paths
from app.store.db import Database
from app.store.models import RecordRow
from app.store.repository import RecordRepository
from tests.conftest import DATA, SHARED

CORPUS = DATA / "records"
BAD = DATA / "bad_records"


def corpus_records() -> dict[str, object]:
    return {r.id: r for r in (parse_record(p.read_bytes()) for p in sorted(CORPUS.glob("*.md")))}


def stored(db: Database) -> dict[str, object]:
    with db.session() as session:
        return {r.id: r for r in RecordRepository(session).iter_all()}


def test_import_export_import_is_lossless(db: Database, tmp_path: Path, now) -> None:
    expected = corpus_records()
    report = import_paths(db, [CORPUS], now=now)
    assert (report.new, report.failed) == (len(expected), 0), report.errors
    assert stored(db) == expected          # every field, unknown keys and body included

    out = tmp_path / "content"
    assert export_dir(db, out).written == len(expected)
    again = Database(f"sqlite:///{tmp_path / 'second.db'}")
    assert import_paths(again, [out], now=now).new == len(expected)
    assert stored(again) == expected
    # every exported file is canonical: it reads and writes back byte for byte
    for path in out.rglob("*.md"):
        text = path.read_text(encoding="utf-8")
        assert dump_record(parse_record(text)) == text


def test_seeds_and_examples_survive_the_database(db: Database, tmp_path: Path, now) -> None:
    seeds = sorted((SHARED / "format" / "seeds").glob("00[0-3]_*.txt"))
    if not seeds:
        import pytest
        pytest.skip("the shared format folder is not here")
    report = import_paths(db, [*seeds, SHARED / "format" / "examples"], now=now)
    assert report.failed == 0 and report.new == 24
    out = tmp_path / "out"
    export_dir(db, out)
    texts = [p.read_text(encoding="utf-8") for p in out.rglob("*.md")]
    exported = {parse_record(text).web_url: text for text in texts}
    for seed in seeds:   # canonical seeds come back from the database byte for byte
        text = seed.read_text(encoding="utf-8")
        assert exported[parse_record(text).web_url] == text


def test_second_import_changes_nothing_and_says_so(db: Database, now) -> None:
    first = import_paths(db, [CORPUS], now=now)
    second = import_paths(db, [CORPUS], now=now + timedelta(hours=1))
    assert second.summary() == f"0 new, 0 updated, {first.new} unchanged, 0 failed"
    with db.session() as session:
        times = set(session.execute(select(RecordRow.updated_at)).scalars())
    assert len(times) == 1   # nothing was rewritten


def test_changed_file_updates_one_record(db: Database, tmp_path: Path, now) -> None:
    folder = tmp_path / "in"
    shutil.copytree(CORPUS, folder)
    import_paths(db, [folder], now=now)
    target = folder / "05-canonical-quality-zero.md"
    target.write_text(target.read_text(encoding="utf-8").replace("quality: 0", "quality: 7"),
                      encoding="utf-8")
    report = import_paths(db, [folder], now=now)
    assert (report.new, report.updated, report.failed) == (0, 1, 0)
    with db.session() as session:
        record = RecordRepository(session).get(parse_record(target.read_text(encoding="utf-8")).id)
    assert record is not None and record.quality == 7


def test_export_is_incremental_and_leaves_files_alone(db: Database, tmp_path: Path,
                                                      now) -> None:
    import_paths(db, [CORPUS], now=now)
    out = tmp_path / "content"
    first = export_dir(db, out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.md")}
    second = export_dir(db, out)
    assert second.summary() == f"0 written, {first.written} unchanged"
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.md")} == mtimes
    for path in mtimes:
        assert path.parent.name == path.name[:4]           # YYYY/YYYY-MM-DD-slug.md
        assert path.name[4] == "-" and path.name[10] == "-"


def test_prune_removes_files_of_records_that_are_gone(db: Database, tmp_path: Path,
                                                      now) -> None:
    import_paths(db, [CORPUS], now=now)
    out = tmp_path / "content"
    (out).mkdir()
    (out / "README.md").write_text("keep me", encoding="utf-8")
    export_dir(db, out)
    victim = next(iter(sorted(out.rglob("*/*.md"))))
    rid = parse_record(victim.read_text(encoding="utf-8")).id
    with db.session() as session:
        assert RecordRepository(session).delete([rid]) == 1
    kept = export_dir(db, out)
    assert kept.pruned == 0 and victim.exists()   # without --prune nothing is removed
    pruned = export_dir(db, out, prune=True)
    assert pruned.pruned == 1 and not victim.exists()
    assert (out / "README.md").read_text(encoding="utf-8") == "keep me"


def test_bad_files_are_reported_and_the_rest_imports(db: Database, tmp_path: Path,
                                                     now) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(CORPUS, folder / "good")
    shutil.copytree(BAD, folder / "bad")
    report = import_paths(db, [folder], now=now)
    good = len(list(CORPUS.glob("*.md")))
    bad = len(list(BAD.glob("*.md")))
    assert report.new == good
    assert report.failed == bad == len(report.errors)
    for message in report.errors:
        assert "\n" not in message and "/bad/" in message
    by_file = {m.split("/bad/")[1].split(":")[0]: m for m in report.errors}
    assert "field 'title'" in by_file["missing-title.md"]
    assert "field 'webUrl'" in by_file["missing-weburl.md"]
    assert "field 'publishedDateTime'" in by_file["missing-published-date.md"]
    assert "field 'provider'" in by_file["missing-provider.md"]
    assert "field 'quality'" in by_file["quality-not-integer.md"]
    assert "impossible date" in by_file["impossible-date.md"]
    assert "broken YAML" in by_file["broken-yaml.md"]
    assert "not a record" in by_file["not-a-record.md"]
    assert "empty" in by_file["empty.md"]
    with db.session() as session:
        assert session.execute(select(func.count()).select_from(RecordRow)).scalar() == good


def test_a_record_the_database_refuses_leaves_nothing_behind(db: Database, tmp_path: Path,
                                                            now) -> None:
    good = parse_record((CORPUS / "01-canonical-full.md").read_text(encoding="utf-8"))
    # a provider name longer than its column: PostgreSQL refuses it (SQLite does not check)
    huge = good.replace(web_url="https://example.org/huge",
                        provider=good.provider.__class__(name="x" * 600, domain="d" * 300))
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.md").write_text(dump_record(good), encoding="utf-8")
    (folder / "b.md").write_text(dump_record(huge), encoding="utf-8")
    report = import_paths(db, [folder], now=now)
    if db.engine.dialect.name == "postgresql":
        assert report.failed == 1
    with db.session() as session:
        repo = RecordRepository(session)
        ids = set(repo.all_ids())
        assert good.id in ids
        if report.failed:
            assert huge.id not in ids and "b.md" in report.errors[0]
            assert repo.get(good.id) == good


def test_a_large_import_parses_in_worker_processes_with_the_same_result(
        sqlite_db: Database, tmp_path: Path, now, monkeypatch) -> None:
    import app.store.content as content

    monkeypatch.setattr(content, "PARALLEL_FROM", 10)
    folder = tmp_path / "mixed"
    shutil.copytree(CORPUS, folder / "good")
    shutil.copytree(BAD, folder / "bad")
    report = import_paths(sqlite_db, [folder], now=now, processes=2)
    assert report.new == len(list(CORPUS.glob("*.md")))
    assert report.failed == len(list(BAD.glob("*.md")))
    assert any("missing-title.md" in e and "field 'title'" in e for e in report.errors)
    assert stored(sqlite_db) == corpus_records()


def test_stored_times_compare_equal_in_sql_however_the_rows_were_written(
        db: Database, now) -> None:
    # Rows are inserted on SQLite through the driver (app.store.repository.insert_rows): its
    # times must be written as SQLAlchemy writes them, or comparisons in SQL miss them.
    import_paths(db, [CORPUS], now=now)
    records = list(corpus_records().values())
    with db.session() as session:
        for record in records[:5]:
            found = session.execute(select(RecordRow.id).where(
                RecordRow.published_at == record.published_at.replace(tzinfo=None),
                RecordRow.created_at == now.replace(tzinfo=None))).scalars().all()
            assert found == [record.id]


def test_topic_links_follow_their_records_heat(db: Database, now) -> None:
    # the hottest-first topic page reads the links' copy of the heat (migration 0011)
    from sqlalchemy import update

    from app.store.models import RecordTopicRow

    import_paths(db, [CORPUS], now=now)

    def mismatched() -> list[str]:
        with db.session() as session:
            return list(session.execute(
                select(RecordTopicRow.record_id).join(RecordRow,
                                                      RecordRow.id == RecordTopicRow.record_id)
                .where(RecordTopicRow.heat != func.coalesce(RecordRow.heat, -1))).scalars())

    assert mismatched() == []
    with db.session() as session:
        rid = session.execute(select(RecordTopicRow.record_id).limit(1)).scalar_one()
        session.execute(update(RecordRow).where(RecordRow.id == rid).values(heat=977))
        session.commit()
    assert mismatched() == []
    with db.session() as session:
        session.execute(update(RecordRow).where(RecordRow.id == rid).values(heat=None))
        session.commit()
    assert mismatched() == []
