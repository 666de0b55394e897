"""One clock: every command, job and page takes "now" from `settings.clock` (app/clock.py), so
that tests can fix it and a run does not depend on the date it happens on."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.clock import fixed, parse_instant
from app.config import Settings
from app.errors import ConfigError
from tests.conftest import ROOT

WALL_CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"),
                    ("time", "time"), ("datetime", "today")}


def _wall_clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and (node.func.value.id, node.func.attr) in WALL_CLOCK_CALLS):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: "
                         f"{node.func.value.id}.{node.func.attr}()")
    return found


def test_nothing_in_app_reads_the_wall_clock_but_the_clock_module() -> None:
    modules = [p for p in (ROOT / "app").rglob("*.py") if p.name != "clock.py"]
    assert len(modules) > 40
    assert [hit for p in modules for hit in _wall_clock_reads(p)] == []


def test_newsdesk_now_freezes_the_clock_of_the_settings() -> None:
    settings = Settings.from_env({"NEWSDESK_NOW": "2027-01-05T08:30:00Z"})
    assert settings.clock() == datetime(2027, 1, 5, 8, 30, tzinfo=UTC)
    assert Settings.from_env({"NEWSDESK_NOW": "2027-01-05T10:30:00+02:00"}).clock() == \
        settings.clock()
    with pytest.raises(ConfigError, match="NEWSDESK_NOW"):
        Settings.from_env({"NEWSDESK_NOW": "2027-01-05T08:30:00"})      # no timezone
    with pytest.raises(ConfigError, match="NEWSDESK_NOW"):
        Settings.from_env({"NEWSDESK_NOW": "next tuesday"})


def test_a_fixed_clock_needs_an_aware_instant() -> None:
    assert fixed(parse_instant("2026-11-25T12:00:00Z"))().tzinfo is not None
    with pytest.raises(ValueError):
        fixed(datetime(2026, 11, 25, 12))
