"""The head revision of migrations/, read without Alembic (issue 19).

Every command opens the database and checks that it is at the head of migrations/.  Asking
Alembic (ScriptDirectory) for the head imports Alembic and executes every migration module, which
took a good part of a command's start-up; when the database is at head, as it is almost always,
the check is one query (`SELECT version_num FROM alembic_version`) beside this reading of the
`revision = ...` and `down_revision = ...` lines of migrations/versions/*.py.

Anything this reading cannot vouch for (a file without a plain revision line, more than one
head, a chain that does not close) gives None, and the caller asks Alembic; tests/test_schema.py
checks that both agree.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"

_ASSIGN = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*(?:#.*)?$",
                     re.MULTILINE)
_ID = re.compile(r"""['"]([^'"]+)['"]""")


def _revisions(text: str) -> tuple[str, tuple[str, ...]] | None:
    found: dict[str, str] = {}
    for key, value in _ASSIGN.findall(text):
        if key in found:
            return None                  # assigned twice: not a plain migration file
        found[key] = value
    if "revision" not in found or "down_revision" not in found:
        return None
    own = _ID.fullmatch(found["revision"])
    if own is None:
        return None
    down = found["down_revision"]
    if down == "None":
        return own.group(1), ()
    ids = tuple(_ID.findall(down))
    if not ids or not re.fullmatch(r"[(\[]?\s*(['\"][^'\"]+['\"]\s*,?\s*)+[)\]]?", down):
        return None
    return own.group(1), ids


@lru_cache(maxsize=4)
def migration_head(folder: Path = MIGRATIONS_DIR / "versions") -> str | None:
    """The single head revision of the migration files in `folder`, or None when it cannot
    be told this way (Alembic must then be asked)."""
    downs: dict[str, tuple[str, ...]] = {}
    try:
        files = sorted(folder.glob("*.py"))
        for path in files:
            parsed = _revisions(path.read_text(encoding="utf-8"))
            if parsed is None or parsed[0] in downs:
                return None
            downs[parsed[0]] = parsed[1]
    except (OSError, UnicodeDecodeError):
        return None
    pointed = {d for ds in downs.values() for d in ds}
    if not pointed <= downs.keys() or sum(1 for ds in downs.values() if not ds) != 1:
        return None
    heads = [rev for rev in downs if rev not in pointed]
    return heads[0] if len(heads) == 1 else None
