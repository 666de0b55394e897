"""SQLite writers wait for each other instead of failing with "database is locked" (the
enrichment and fetch jobs of `newsdesk run` write at the same moment)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import text

from app.store.db import Database
from app.store.editorial import EditorialRepository
from tests.conftest import NOW


def _in_thread(target: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_writer_that_read_first_is_not_refused_when_another_commits_meanwhile(
        sqlite_db: Database) -> None:
    read, other_done = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def reads_then_writes() -> None:
        with sqlite_db.session() as session:
            repo = EditorialRepository(session)
            repo.audit_entries()                     # its transaction reads first ...
            read.set()
            other_done.wait(timeout=2)               # ... another writer may commit now ...
            repo.audit("enrich", "write", "record", "a", now=NOW)   # ... then it writes

    def writes() -> None:
        read.wait(timeout=30)
        with sqlite_db.session() as session:
            EditorialRepository(session).audit("fetch", "write", "record", "b", now=NOW)
        other_done.set()

    threads = [_in_thread(reads_then_writes, errors), _in_thread(writes, errors)]
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with sqlite_db.session() as session:
        assert EditorialRepository(session).audit_entries()[1] == 2


def test_two_threads_writing_at_once_both_get_through(sqlite_db: Database) -> None:
    errors: list[BaseException] = []

    def writer(name: str) -> Callable[[], None]:
        def run() -> None:
            for i in range(100):
                with sqlite_db.session() as session:
                    repo = EditorialRepository(session)
                    repo.audit_entries(limit=1)
                    repo.audit(name, "write", "record", str(i), now=NOW)
        return run

    threads = [_in_thread(writer("enrich"), errors), _in_thread(writer("fetch"), errors)]
    for thread in threads:
        thread.join(timeout=120)
    assert not [e for e in errors if "locked" in str(e)], errors
    assert not errors, errors
    with sqlite_db.session() as session:
        assert EditorialRepository(session).audit_entries()[1] == 200


def test_readers_of_the_site_begin_deferred_and_do_not_wait_for_a_writer(
        sqlite_db: Database) -> None:
    with sqlite_db.session() as writing:
        EditorialRepository(writing).audit("fetch", "write", "record", "a", now=NOW)
        with sqlite_db.sessions() as reading:       # the public site's sessions
            assert reading.execute(text("SELECT count(*) FROM editor_audit_log")).scalar() == 0
