"""Text files are read and written as UTF-8 whatever the machine's locale.

CI runs where LANG names no installed locale, so Python's default encoding is ASCII there: a
`read_text()` without `encoding=` passed on a developer's UTF-8 machine and failed on the first
record with a curly quote. The check walks every module, so a new call is caught by construction."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TEXT_METHODS = {"read_text", "write_text"}
BINARY_MODES = ("b",)


def _unencoded_text_io(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in TEXT_METHODS:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{func.attr}() without encoding")
        elif isinstance(func, ast.Name) and func.id == "open":
            mode = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "mode"), None)
            binary = isinstance(mode, ast.Constant) and "b" in str(mode.value)
            if not binary:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: open() without encoding")
    return found


def test_every_text_file_access_names_its_encoding() -> None:
    modules = [p for folder in ("app", "tests", "bench", "migrations")
               for p in (ROOT / folder).rglob("*.py")]
    assert len(modules) > 60
    assert [hit for p in modules for hit in _unencoded_text_io(p)] == []


def test_the_command_prints_non_ascii_under_an_ascii_locale(tmp_path: Path) -> None:
    """`newsdesk` under LC_ALL=C without UTF-8 mode: help text and messages still print."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0", "NEWSDESK_DATA_DIR": str(tmp_path),
           "NEWSDESK_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    code = ("import sys; from app.cli import _tolerant_streams; _tolerant_streams(); "
            "print('Why 2020 Is \\u2018Huge\\u2019 \\u2014 caf\\u00e9'); "
            "print(sys.stdout.encoding)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    assert b"caf" in done.stdout
