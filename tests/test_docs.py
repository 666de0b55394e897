"""The README stays true: every setting of app/config.py is a row of the Settings table with the
code's default, and every command of `newsdesk --help` is a row of the Commands table (one case
per setting and per command, as datasette's tests/test_docs.py does per option)."""

from __future__ import annotations

import re

import click
import pytest

from app.cli import main
from app.config import SETTINGS, Setting
from app.record import dump_record, parse_record
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under `## heading`, up to the next `## ` heading."""
    parts = re.split(rf"(?m)^## {re.escape(heading)}[ \t]*$", text)
    assert len(parts) == 2, f"the README has no single '## {heading}' heading"
    return re.split(r"(?m)^## ", parts[1], maxsplit=1)[0]


def table(text: str) -> list[list[str]]:
    """The rows (header first, cells stripped, `\\|` unescaped) of the first Markdown table in
    `text`: the lines that start with `|`, up to the first line that does not.  Rows left
    further down, after a paragraph, are not part of the table (they render as garbled text)."""
    lines = text.strip("\n").split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        inner = line.strip()[1:-1]
        rows.append([cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)])
    assert len(rows) >= 2 and set("".join(rows[1])) <= set("-: "), "not a Markdown table"
    return [rows[0], *rows[2:]]


SETTINGS_TABLE = table(section(README, "Settings"))
SETTING_ROWS = {row[0].strip("`"): row for row in SETTINGS_TABLE[1:]}
COMMANDS_TABLE = table(section(README, "Commands"))
COMMAND_CELLS = [row[0].strip("`") for row in COMMANDS_TABLE[1:]]


def test_the_tables_have_the_expected_columns() -> None:
    assert SETTINGS_TABLE[0] == ["variable", "default", "meaning"]
    assert COMMANDS_TABLE[0] == ["command", "what it does"]
    assert all(len(row) == 3 for row in SETTINGS_TABLE), "a settings row has the wrong cells"


@pytest.mark.parametrize("setting", list(SETTINGS.values()), ids=lambda s: s.env)
def test_setting_is_a_row_of_the_settings_table(setting: Setting) -> None:
    if setting.env not in SETTING_ROWS:
        where = ("elsewhere in the README, outside the table" if f"`{setting.env}`" in README
                 else "nowhere in the README")
        pytest.fail(f"{setting.env} is not a row of the README's Settings table; it is {where}")
    _, default, meaning = SETTING_ROWS[setting.env]
    assert meaning, f"{setting.env} has no meaning in the Settings table"
    if setting.default:
        assert default == f"`{setting.default}`", (
            f"{setting.env}: the README's default is {default}, the code's `{setting.default}`")
    else:   # empty in the code: the table says what empty means, not a literal value
        assert default and not re.fullmatch(r"`[^`]*`", default), (
            f"{setting.env}: the code's default is empty; the table should say what that "
            f"means, not {default!r}")


def test_the_settings_table_lists_only_real_settings() -> None:
    names = [row[0].strip("`") for row in SETTINGS_TABLE[1:]]
    known = {s.env for s in SETTINGS.values()}
    assert [n for n in names if n not in known] == []
    assert len(names) == len(set(names)), "a setting has two rows"


def commands(group: click.Group, prefix: str = "newsdesk") -> list[str]:
    """Every command and subcommand that `newsdesk --help` (and each group's --help) lists."""
    ctx = click.Context(group, info_name=prefix)
    names = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        full = f"{prefix} {name}"
        names.append(full)
        if isinstance(command, click.Group):
            names.extend(commands(command, full))
    return names


@pytest.mark.parametrize("command", commands(main))
def test_command_is_a_row_of_the_commands_table(command: str) -> None:
    assert any(cell == command or cell.startswith(command + " ") for cell in COMMAND_CELLS), (
        f"`{command}` is not a row of the README's Commands table")


def test_the_commands_table_names_only_real_commands() -> None:
    unknown = []
    for cell in COMMAND_CELLS:
        command: click.Command = main
        for word in cell.split()[1:]:
            if not isinstance(command, click.Group):
                break
            found = command.get_command(click.Context(command), word)
            if found is None:
                break
            command = found
        if isinstance(command, click.Group):        # stopped at a group: no such command
            unknown.append(cell)
    assert unknown == []


def test_the_readme_gives_two_setup_commands() -> None:
    setup = section(README, "Set-up: two commands")
    blocks = setup.split("```sh")[1:3]
    assert "newsdesk run" in blocks[0]
    assert "pytest" in blocks[1] and "[test]" in blocks[1]


def test_the_record_format_is_described_in_the_repository() -> None:
    # content/README.md points at the format's description; it must be a file of this repository
    content_readme = (ROOT / "content" / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+\.md)\)", content_readme)
    assert links, "content/README.md does not link to the format's description"
    for link in links:
        assert (ROOT / "content" / link).resolve().is_file(), link
    described = (ROOT / "docs" / "RECORD.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(.*?)```", described, re.DOTALL)
    assert example is not None
    # the example is a valid record, written in the canonical layout it describes
    assert dump_record(parse_record(example.group(1))) == example.group(1)
    for field in ("category", "title", "excerpt", "publishedDateTime", "webUrl", "provider",
                  "topics", "images", "related", "secured"):
        assert f"| `{field}` |" in described, field
