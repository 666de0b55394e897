"""The `newsdesk` command as a user runs it: import, export, db upgrade, exit statuses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from tests.conftest import DATA


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSDESK_DATABASE_URL", raising=False)
    monkeypatch.delenv("NEWSDESK_DATA_DIR", raising=False)
    return CliRunner()


def test_import_twice_then_export_twice(runner: CliRunner, tmp_path: Path) -> None:
    first = runner.invoke(main, ["import", str(DATA / "records")])
    assert first.exit_code == 0, first.output
    count = len(list((DATA / "records").glob("*.md")))
    assert f"{count} new, 0 updated, 0 unchanged, 0 failed" in first.output
    assert (tmp_path / "var" / "newsdesk.db").exists()       # default database, made by itself
    second = runner.invoke(main, ["import", str(DATA / "records")])
    assert f"0 new, 0 updated, {count} unchanged, 0 failed" in second.output
    out = runner.invoke(main, ["export", "content"])
    assert f"{count} written, 0 unchanged" in out.output
    again = runner.invoke(main, ["export", "content"])
    assert f"0 written, {count} unchanged" in again.output


def test_a_file_named_on_its_own_is_imported_whatever_its_extension(runner: CliRunner,
                                                                  tmp_path: Path) -> None:
    target = tmp_path / "record.txt"
    shutil.copy(DATA / "records" / "01-canonical-full.md", target)
    result = runner.invoke(main, ["import", str(target)])
    assert "1 new" in result.output and result.exit_code == 0


def test_failed_files_give_one_line_each_and_a_nonzero_exit(runner: CliRunner) -> None:
    result = runner.invoke(main, ["import", str(DATA / "records"), str(DATA / "bad_records"),
                                  "missing-folder"])
    assert result.exit_code == 1
    bad = len(list((DATA / "bad_records").glob("*.md")))
    errors = [line for line in result.output.splitlines() if "bad_records/" in line]
    assert len(errors) == bad
    assert any("missing-folder: no such file or folder" in line
               for line in result.output.splitlines())
    assert f"{bad + 1} failed" in result.output


def test_db_upgrade_and_current(runner: CliRunner) -> None:
    result = runner.invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0 and "database at revision" in result.output
    current = runner.invoke(main, ["db", "current"])
    rev = current.output.split()[0]
    assert f"(head: {rev})" in current.output


def test_the_installed_command_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("newsdesk")
    if not exe.exists():
        pytest.skip("the newsdesk console script is not installed in this environment")
    done = subprocess.run([str(exe), "import", str(DATA / "bad_records" / "empty.md")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "empty.md" in done.stderr and "0 new, 0 updated, 0 unchanged, 1 failed" in done.stdout
    assert "Traceback" not in done.stderr
