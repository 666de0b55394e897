"""Shared fixtures: a real database per test (SQLite always; PostgreSQL too when
NEWSDESK_TEST_DATABASE_URL is set), paths to the shared format folder, and a clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.store.db import Database

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED = ROOT.parent / "shared"
TEST_CONFIG = DATA / "config"     # a fixed copy of feeds/: editing feeds/ never breaks a test
PG_URL = os.environ.get("NEWSDESK_TEST_DATABASE_URL", "")

os.environ.setdefault("NEWSDESK_ALLOW_PRIVATE_NETWORKS", "1")
# workers started by tests fetch feeds only, unless a test asks for the enrichment jobs
os.environ.setdefault("NEWSDESK_ENRICH_INTERVAL", "0")

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def browser_env() -> dict[str, str]:
    """The environment of chromedriver and Chromium: this one, less libfaketime. The clock-shift
    run of .ci/run moves the site's clock, not the browser's (Chromium's renderer times out when
    its wall and monotonic clocks disagree by 400 days)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("FAKETIME") and not (k == "LD_PRELOAD" and "faketime" in v)}


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, or a skip when the shared folder is not beside the project."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared folder is optional for the tests)")
    return path


@pytest.fixture
def now() -> datetime:
    return NOW


def _pg_schema_url(base: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards, so that test
    runs in parallel never see each other's tables."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsdesk.db'}"
        return
    if not PG_URL:
        pytest.skip("NEWSDESK_TEST_DATABASE_URL is not set")
    yield from _pg_schema_url(PG_URL)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'newsdesk.db'}")
    yield database
    database.dispose()


# editors (issue 7): app, accounts, clock and signed-in clients for the editor tests
from tests.editor_fixtures import alice, browser, clock, editor_app, root  # noqa: E402,F401
