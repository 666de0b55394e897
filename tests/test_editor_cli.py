"""`newsdesk user ...` and `newsdesk token ...`: accounts and API tokens from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.store.db import Database
from app.store.models import ApiTokenRow, EditorUserRow


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("NEWSDESK_DATABASE_URL", raising=False)
    return CliRunner()


def db_of(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'newsdesk.db'}")


def test_add_list_disable_enable_users(cli: CliRunner, tmp_path: Path) -> None:
    empty = cli.invoke(main, ["user", "list"])
    assert empty.exit_code == 0 and "no users" in empty.output     # no default account
    added = cli.invoke(main, ["user", "add", "ada", "--role", "admin", "--password-stdin"],
                       input="a long enough password\n")
    assert added.exit_code == 0, added.output
    assert "created admin ada" in added.output
    prompt = cli.invoke(main, ["user", "add", "bob"],
                        input="another good password\nanother good password\n")
    assert prompt.exit_code == 0, prompt.output
    listing = cli.invoke(main, ["user", "list"]).output.splitlines()
    assert listing == ["ada\tadmin\tactive\tnever signed in",
                       "bob\teditor\tactive\tnever signed in"]
    assert cli.invoke(main, ["user", "disable", "bob"]).exit_code == 0
    assert "bob\teditor\tdisabled" in cli.invoke(main, ["user", "list"]).output
    assert cli.invoke(main, ["user", "enable", "bob"]).exit_code == 0
    db = db_of(tmp_path)
    with db.session() as s:
        hashes = list(s.execute(select(EditorUserRow.password_hash)).scalars())
    db.dispose()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert not any("password" in h for h in hashes)


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["user", "add", "x y"], "a long enough password\n", "not allowed"),
    (["user", "add", "ok", "--password-stdin"], "short\n", "too short"),
    (["user", "disable", "nobody"], "", "no user named"),
    (["token", "create", "nobody"], "", "no user named"),
])
def test_bad_account_commands_say_what_is_wrong(cli: CliRunner, args: list[str], stdin: str,
                                                message: str) -> None:
    result = cli.invoke(main, args, input=stdin)
    assert result.exit_code == 1                                 # one line, no traceback
    assert message in result.output and "Traceback" not in result.output
    assert cli.invoke(main, ["user", "list"]).output.startswith("no users")


def test_the_role_must_be_editor_or_admin(cli: CliRunner) -> None:
    result = cli.invoke(main, ["user", "add", "eve", "--role", "owner", "--password-stdin"],
                        input="a long enough password\n")
    assert result.exit_code == 2 and "'owner' is not one of" in result.output


def test_a_duplicate_user_is_refused(cli: CliRunner) -> None:
    args = ["user", "add", "ada", "--password-stdin"]
    assert cli.invoke(main, args, input="a long enough password\n").exit_code == 0
    again = cli.invoke(main, args, input="a long enough password\n")
    assert again.exit_code == 1 and "already exists" in again.output


def test_tokens_are_printed_once_and_stored_as_hashes(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(main, ["user", "add", "ada", "--password-stdin"],
               input="a long enough password\n")
    created = cli.invoke(main, ["token", "create", "ada", "--label", "publishing script"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("nd_") and len(token) > 40
    listing = cli.invoke(main, ["token", "list"]).output
    assert "ada\tpublishing script\t" in listing and token not in listing
    db = db_of(tmp_path)
    with db.session() as s:
        stored = s.execute(select(ApiTokenRow.token_hash)).scalar_one()
    db.dispose()
    assert token not in stored
    assert cli.invoke(main, ["token", "revoke", "1"]).exit_code == 0
    assert "revoked" in cli.invoke(main, ["token", "list"]).output
    assert cli.invoke(main, ["token", "revoke", "1"]).exit_code == 1
