"""The schema: Alembic's migrations build exactly what the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.store.db import Database, current_revision, head_revision
from app.store.models import Base, include_name


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
