"""A bad setting ends a command with one clear line on stderr and a non-zero exit, before the
command does anything: no traceback, no folder or database made by a typo, no content imported
by a `newsdesk run` that cannot listen."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from tests.conftest import DATA
from tests.test_farm import NEWSDESK, ROOT


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSDESK_DATABASE_URL", raising=False)
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("NEWSDESK_LOG_LEVEL", "WARNING")
    return CliRunner()


def one_line_error(result: Result) -> str:
    """The one line a failed command printed on stderr."""
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("newsdesk: ") and "Traceback" not in result.stderr
    return lines[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("url", "says"), [
    ("notaurl", "not a database URL: 'notaurl'"),
    ("mysql://u@127.0.0.1/x", "mysql: not a database Newsdesk runs on"),
    ("postgresql+asyncpg://u@127.0.0.1/x", "its driver is not installed"),
])
def test_a_database_url_newsdesk_cannot_use_is_one_line(runner: CliRunner,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        url: str, says: str) -> None:
    monkeypatch.setenv("NEWSDESK_DATABASE_URL", url)
    line = one_line_error(runner.invoke(main, ["user", "list"]))
    assert "NEWSDESK_DATABASE_URL" in line and says in line


def test_an_unreachable_postgresql_is_one_line_and_hides_the_password(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    monkeypatch.setenv("NEWSDESK_DATABASE_URL",
                       f"postgresql+psycopg://newsdesk:s3cret@127.0.0.1:{port}/newsdesk")
    line = one_line_error(runner.invoke(main, ["db", "current"]))
    assert f"cannot open the database postgresql+psycopg://newsdesk:***@127.0.0.1:{port}" in line
    assert "s3cret" not in line


def test_a_sqlite_path_in_a_missing_folder_is_an_error_not_a_new_database(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    typo = tmp_path / "nonexistent" / "dir"
    monkeypatch.setenv("NEWSDESK_DATABASE_URL", f"sqlite:///{typo / 'x.db'}")
    line = one_line_error(runner.invoke(main, ["user", "list"]))
    assert f"the folder {typo} does not exist" in line
    assert not (tmp_path / "nonexistent").exists()


def test_the_default_data_dir_is_still_made_on_demand(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["user", "list"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "var" / "newsdesk.db").is_file()


@pytest.mark.parametrize("command", ["run", "serve"])
def test_a_port_in_use_stops_run_and_serve_before_anything_is_done(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str) -> None:
    monkeypatch.setenv("NEWSDESK_CONTENT_DIR", str(DATA / "records"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(main, [command, "--host", "127.0.0.1", "--port", str(port)])
    line = one_line_error(result)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "in use" in line
    assert "imported" not in result.output
    assert not (tmp_path / "var" / "newsdesk.db").exists()


def test_the_installed_command_prints_the_same_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "NEWSDESK_LOG_LEVEL": "WARNING",
           "NEWSDESK_DATA_DIR": str(tmp_path / "var"),
           "NEWSDESK_DATABASE_URL": f"postgresql+psycopg://u@127.0.0.1:{closed_port()}/x"}
    done = subprocess.run([*NEWSDESK, "user", "list"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("newsdesk: cannot open")
