"""The schema: Alembic's migrations build exactly what the models describe."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.record import Provider, Record
from app.store.db import Database, alembic_config, current_revision, head_revision
from app.store.models import Base, include_name
from app.store.repository import RecordRepository
from app.store.search import index_pending


def test_upgrade_head_on_an_empty_database_matches_the_models(db_url: str) -> None:
    db = Database(db_url, migrate=False)
    try:
        assert current_revision(db.engine) is None
        from app.store.db import upgrade
        upgrade(db.engine)
        assert current_revision(db.engine) == head_revision()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True,
                                                             "include_name": include_name}),
                                    Base.metadata)
        assert diff == []
        tables = set(inspect(db.engine).get_table_names())
        assert {"records", "providers", "topics", "record_topics", "images", "related",
                "record_extras"} <= tables
    finally:
        db.dispose()


def test_reader_queries_have_indexes(db: Database) -> None:
    inspector = inspect(db.engine)

    def columns(table: str) -> list[list[str]]:
        return [list(ix["column_names"]) for ix in inspector.get_indexes(table)]

    assert ["published", "published_at"] in columns("records")          # newest published
    assert ["published", "heat"] in columns("records")                  # hottest
    assert ["provider_id", "published", "published_at"] in columns("records")
    assert ["topic_id", "published", "published_at"] in columns("record_topics")


def test_opening_a_database_twice_does_not_migrate_again(db_url: str) -> None:
    Database(db_url).dispose()
    second = Database(db_url)
    assert current_revision(second.engine) == head_revision()
    second.dispose()


def _record(word: str, when: datetime) -> Record:
    return Record(category="news", title=f"A {word} story", excerpt=f"All about {word}.",
                  published_at=when, original_url=None, web_url=f"https://n.example/{word}",
                  type="article", quality=50, published=True,
                  provider=Provider(name="N", domain="n.example"), topics=(), images=())


def _found(db: Database, word: str) -> list[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT m.record_id FROM records_fts JOIN records_fts_ids m "
            "ON m.fts_rowid = records_fts.rowid WHERE records_fts MATCH :w"), {"w": word})
        return list(rows.scalars())


def _save(db: Database, record: Record, now: datetime) -> None:
    with db.session() as session:
        RecordRepository(session).save(record, now=now)


def test_search_queue_migrations_lose_no_record_either_way(tmp_path: Path, now) -> None:
    # 0006 queued records with their FTS rowids; 0007 queues ids and gives rowids at indexing.
    # Up and down again, every record waiting in either queue ends up indexed.
    from alembic import command

    db = Database(f"sqlite:///{tmp_path / 'q.db'}", migrate=False)

    def migrate(direction: str, revision: str) -> None:
        cfg = alembic_config(db.engine)
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            getattr(command, direction)(cfg, revision)

    try:
        migrate("upgrade", "0006")
        for word in ("aardvark", "bobolink"):
            _save(db, _record(word, now), now)
        assert _found(db, "aardvark") == []          # queued by 0006, not indexed yet
        migrate("upgrade", "head")
        assert current_revision(db.engine) == head_revision()
        ids = {w: _record(w, now).id for w in ("aardvark", "bobolink", "caracal", "dugong")}
        assert _found(db, "aardvark") == [ids["aardvark"]]
        assert _found(db, "bobolink") == [ids["bobolink"]]
        _save(db, _record("caracal", now), now)
        _save(db, _record("dugong", now), now)
        with db.session() as session:                # a queued record deleted before indexing
            RecordRepository(session).delete([ids["dugong"]])
        migrate("downgrade", "0006")
        assert _found(db, "caracal") == [ids["caracal"]]
        assert _found(db, "dugong") == []
        _save(db, _record("dugong", now), now)
        migrate("upgrade", "head")
        assert _found(db, "dugong") == [ids["dugong"]]
        assert _found(db, "caracal") == [ids["caracal"]]
        with db.session() as session:
            assert index_pending(session) == 0
            session.commit()
    finally:
        db.dispose()


def test_queued_records_are_indexed_once_in_id_order(sqlite_db: Database, now) -> None:
    words = ["hoatzin", "quokka", "axolotl", "narwhal"]
    for word in words:
        _save(sqlite_db, _record(word, now), now)
    _save(sqlite_db, _record("quokka", now).replace(title="A quokka story, retold"), now)
    with sqlite_db.session() as session:
        RecordRepository(session).delete([_record("narwhal", now).id])
        assert index_pending(session) == 3
        session.commit()
    with sqlite_db.engine.connect() as conn:
        rows = conn.execute(text("SELECT record_id FROM records_fts_ids ORDER BY fts_rowid"))
        assert list(rows.scalars()) == sorted(_record(w, now).id for w in words[:3])
    assert _found(sqlite_db, "retold") == [_record("quokka", now).id]
    assert _found(sqlite_db, "narwhal") == []


def test_a_new_sqlite_database_has_small_pages_and_an_old_one_keeps_its_own(
        tmp_path: Path) -> None:
    import sqlite3

    from app.store.db import SQLITE_PAGE_SIZE

    new = Database(f"sqlite:///{tmp_path / 'new.db'}")
    with new.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == SQLITE_PAGE_SIZE == 2048
    new.dispose()
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as conn:       # made by an earlier version, 4 KB pages
        conn.execute("PRAGMA page_size=4096")
        conn.execute("CREATE TABLE t (x)")
    old = Database(f"sqlite:///{old_path}")
    with old.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    old.dispose()
