"""Export in several processes: the same files, byte for byte, as an export in one process;
incremental (a second export touches nothing); prune.  Runs on SQLite, and on PostgreSQL when
NEWSDESK_TEST_DATABASE_URL is set.  The thresholds are lowered so that the small corpus is
shared out in parts of a few records between this process and a worker process."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import app.store.content as content
from app.cli import main
from app.record import parse_record
from app.store.content import export_dir, export_names, import_paths
from app.store.db import Database
from app.store.repository import RecordRepository
from tests.conftest import DATA

CORPUS = DATA / "records"


@pytest.fixture
def in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any export in more than one process goes parallel, in parts of 3 records."""
    monkeypatch.setattr(content, "EXPORT_PARALLEL_FROM", 1)
    monkeypatch.setattr(content, "_EXPORT_PART", 3)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def mtimes(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*.md")}


def twins(db: Database, now) -> None:
    """Records that would share a name (same day, same title) with ids far apart, so that
    they fall in different parts: names must be given out across the whole set."""
    base = parse_record((CORPUS / "01-canonical-full.md").read_text(encoding="utf-8"))
    with db.session() as session:
        repo = RecordRepository(session)
        for n in range(6):
            repo.save(base.replace(web_url=f"https://example.org/twin/{n}"), now=now)


def test_parallel_export_writes_the_same_files_as_one_process(db: Database, tmp_path: Path,
                                                               now, in_parts) -> None:
    assert import_paths(db, [CORPUS], now=now).failed == 0
    twins(db, now)
    serial = export_dir(db, tmp_path / "serial", processes=1)
    parallel = export_dir(db, tmp_path / "parallel", processes=2)
    count = len(export_names(db))
    assert (serial.written, parallel.written, parallel.unchanged) == (count, count, 0)
    assert files(tmp_path / "parallel") == files(tmp_path / "serial")
    stems = {name.rsplit("/", 1)[1] for name in files(tmp_path / "parallel")}
    assert len(stems) == count                  # the twins were told apart


def test_second_parallel_export_touches_nothing(db: Database, tmp_path: Path, now,
                                                in_parts) -> None:
    import_paths(db, [CORPUS], now=now)
    out = tmp_path / "content"
    first = export_dir(db, out, processes=2)
    before = mtimes(out)
    second = export_dir(db, out, processes=2)
    assert second.summary() == f"0 written, {first.written} unchanged"
    assert mtimes(out) == before


def test_parallel_export_rewrites_only_files_whose_bytes_differ(db: Database, tmp_path: Path,
                                                                now, in_parts) -> None:
    import_paths(db, [CORPUS], now=now)
    out = tmp_path / "content"
    export_dir(db, out, processes=1)
    expected = files(out)
    edited, shortened = sorted(out.rglob("*.md"))[:2]
    text = edited.read_bytes()
    edited.write_bytes(text.replace(b"title:", b"TITLE:", 1))      # same size, other bytes
    shortened.write_bytes(shortened.read_bytes()[:-1])
    for path in out.rglob("*.md"):      # a rewrite shows whatever the clock's resolution
        os.utime(path, ns=(1, 1))
    before = mtimes(out)
    report = export_dir(db, out, processes=2)
    assert (report.written, report.unchanged) == (2, len(expected) - 2)
    assert files(out) == expected
    changed = {p for p, ns in mtimes(out).items() if ns != before[p]}
    assert changed == {edited, shortened}


def test_prune_with_processes(db: Database, tmp_path: Path, now, in_parts) -> None:
    import_paths(db, [CORPUS], now=now)
    out = tmp_path / "content"
    out.mkdir()
    (out / "README.md").write_text("keep me", encoding="utf-8")
    export_dir(db, out, processes=2)
    stray = out / "1999" / "1999-01-01-gone.md"
    stray.parent.mkdir()
    stray.write_text("a record that is gone", encoding="utf-8")
    victim = sorted(out.rglob("2*/*.md"))[0]
    with db.session() as session:
        victim_id = parse_record(victim.read_text(encoding="utf-8")).id
        assert RecordRepository(session).delete([victim_id]) == 1
    assert export_dir(db, out, processes=2).pruned == 0 and victim.exists()
    pruned = export_dir(db, out, prune=True, processes=2)
    assert pruned.pruned == 2 and not victim.exists() and not stray.parent.exists()
    assert (out / "README.md").read_text(encoding="utf-8") == "keep me"


def test_an_in_memory_database_is_exported_in_one_process(tmp_path: Path, now,
                                                          in_parts) -> None:
    db = Database("sqlite://")       # other processes cannot see it
    import_paths(db, [CORPUS], now=now)
    report = export_dir(db, tmp_path / "out", processes=2)
    assert report.written == len(list(CORPUS.glob("*.md")))


def test_the_export_command_uses_processes(tmp_path: Path, now, in_parts,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSDESK_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSDESK_DATA_DIR", raising=False)
    monkeypatch.setenv("NEWSDESK_PARSE_PROCESSES", "2")
    runner = CliRunner()
    assert runner.invoke(main, ["import", str(CORPUS)]).exit_code == 0
    count = len(list(CORPUS.glob("*.md")))
    first = runner.invoke(main, ["export", "content"])
    assert f"{count} written, 0 unchanged" in first.output, first.output
    again = runner.invoke(main, ["export", "content"])
    assert f"0 written, {count} unchanged" in again.output
    db = Database(f"sqlite:///{tmp_path / 'var' / 'newsdesk.db'}")
    serial = export_dir(db, tmp_path / "serial", processes=1)
    assert serial.written == count
    assert files(tmp_path / "content") == files(tmp_path / "serial")
    db.dispose()


def test_records_saved_after_the_names_are_given_out_wait_for_the_next_export(
        db: Database, tmp_path: Path, now, in_parts, monkeypatch: pytest.MonkeyPatch) -> None:
    import_paths(db, [CORPUS], now=now)
    base = parse_record((CORPUS / "28-minimal.md").read_text(encoding="utf-8"))
    names = export_names(db)

    def names_then_a_new_record(database: Database) -> dict[str, str]:
        with database.session() as session:
            RecordRepository(session).save(
                base.replace(web_url="https://example.org/late",
                             published_at=base.published_at + timedelta(days=1)), now=now)
        return names

    monkeypatch.setattr(content, "export_names", names_then_a_new_record)
    assert export_dir(db, tmp_path / "out", processes=2).written == len(names)
