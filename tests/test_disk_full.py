"""`newsdesk fetch` on a database that cannot be written (a full disk): the sources it could not
store fail with the reason, the summary is printed, the command exits 1, and no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.store.db import Database
from app.store.repository import IngestRepository, RecordRepository
from tests.feedserver import FeedServer, farm_route
from tests.test_farm import ROOT, env_for, write_feeds

# SQLite's own way to report a full disk: a database that may not grow past the pages it has
# ("database or disk is full"), set on every connection the command opens
FULL_DISK = """
from sqlalchemy import event
from sqlalchemy.engine import Engine

@event.listens_for(Engine, "connect")
def _cannot_grow(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    pages = cursor.execute("PRAGMA page_count").fetchone()[0]
    cursor.execute(f"PRAGMA max_page_count={pages}")
    cursor.close()
"""
# a disk so full that not even a lease can be written: the store raises OSError(ENOSPC)
NO_SPACE = """
from app.store.repository import IngestRepository

def _no_space(self, *args, **kwargs):
    raise OSError(28, "No space left on device")

IngestRepository.take_leases = _no_space
"""


def fetch_with(prelude: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    db_url = f"sqlite:///{tmp_path / 'nd.db'}"
    Database(db_url).dispose()                       # the schema, made while there is room
    with FeedServer() as server:
        server.prefixes["/farm/"] = farm_route(30)
        feeds = write_feeds(tmp_path / "feeds", [server.url(f"/farm/{i}.xml") for i in range(2)])
        env = env_for(tmp_path, db_url, feeds)
        env["NEWSDESK_LOG_LEVEL"] = "INFO"
        result = subprocess.run(
            [sys.executable, "-c", prelude + "\nfrom app.cli import run\nrun()", "fetch", "--all"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    return result, db_url


def test_a_full_disk_fails_the_sources_prints_the_summary_and_exits_1(tmp_path: Path) -> None:
    result, db_url = fetch_with(FULL_DISK, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("sources: 0 fetched, 0 not modified, 2 failed; records: 0 new")
    assert last.endswith("; the database could not be written: database or disk is full")
    failures = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 2
    assert all("could not store the entries: database or disk is full" in line
               and "[SQL" not in line for line in failures)
    db = Database(db_url)
    try:
        with db.session() as session:
            assert RecordRepository(session).count() == 0
            states = IngestRepository(session).states()
        assert all(s.error_count == 1 and "database or disk is full" in (s.last_error or "")
                   for s in states)
    finally:
        db.dispose()


def test_a_disk_too_full_to_lease_stops_the_pass_with_a_summary(tmp_path: Path) -> None:
    result, _ = fetch_with(NO_SPACE, tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "the pass stopped: the database could not be written: OSError: " in result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(
        "; the database could not be written: OSError: [Errno 28] No space left on device")
