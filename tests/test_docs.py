"""The README stays true: every setting and every command is documented."""

from __future__ import annotations

import click

from app.cli import main
from app.config import SETTINGS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme() -> None:
    missing = [s.env for s in SETTINGS.values() if f"`{s.env}`" not in README]
    assert missing == []


def _commands(group: click.Group, prefix: str = "newsdesk") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(command, click.Group):
            names.extend(_commands(command, full))
        else:
            names.append(full)
    return names


def test_every_command_is_in_the_readme() -> None:
    missing = [c for c in _commands(main) if f"`{c}" not in README]
    assert missing == []


def test_the_readme_gives_two_setup_commands() -> None:
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    blocks = setup.split("```sh")[1:3]
    assert "newsdesk run" in blocks[0]
    assert "pytest" in blocks[1] and "[test]" in blocks[1]
