"""search: queue new records by id; their FTS rowids are given when they are indexed (SQLite)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 22:40:00

0006 queued each new record for the search index, but its insert trigger still gave the record
its FTS rowid at once: a row in `records_fts_ids`, whose unique index on `record_id` is keyed by
random ids, so every record inserted dirtied one more page of it (about 55 of the ~390 pages
that a 50-entry source's commit wrote).  Now the trigger only appends the record's id to
`records_fts_queue`, and `app.store.search.index_pending()` gives the queued records their
rowids in id order, all at once, then indexes them: a few hundred pages for thousands of
records.  Updates and deletes are unchanged (0005's triggers): a queued record has no rowid yet,
so there is nothing indexed to change; the queue is read against `records` when it is indexed,
so a record deleted meanwhile is skipped.

NOTE for later migrations on SQLite: a batch ("move and copy") rebuild of `records` drops its
triggers; such a migration must run 0005's `create_sqlite_triggers()` and then this module's
`create_sqlite_triggers()`.
"""

import sqlalchemy as sa
from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


SQLITE_TRIGGERS = [
    """CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
         INSERT INTO records_fts_queue(record_id) VALUES (new.id);
       END""",
    """CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
         DELETE FROM records_fts
           WHERE rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = old.id);
         DELETE FROM records_fts_ids WHERE record_id = old.id;
       END""",
]


def index_queue() -> None:
    """What app.store.search.index_pending() does, as it is at this revision."""
    bind = op.get_bind()
    before = int(bind.exec_driver_sql(
        "SELECT coalesce(max(fts_rowid), 0) FROM records_fts_ids").scalar() or 0)
    op.execute("INSERT INTO records_fts_ids (record_id) SELECT DISTINCT q.record_id "
               "FROM records_fts_queue q JOIN records r ON r.id = q.record_id "
               "WHERE NOT EXISTS (SELECT 1 FROM records_fts_ids m "
               "WHERE m.record_id = q.record_id) ORDER BY q.record_id")
    bind.execute(sa.text(
        "INSERT INTO records_fts (rowid, title, excerpt, body) "
        "SELECT m.fts_rowid, r.title, r.excerpt, r.body FROM records_fts_ids m "
        "JOIN records r ON r.id = m.record_id WHERE m.fts_rowid > :before "
        "ORDER BY m.fts_rowid"), {"before": before})
    op.execute("DELETE FROM records_fts_queue")


def create_sqlite_triggers() -> None:
    for name in ("records_fts_insert", "records_fts_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # index what 0006 queued (those records have their rowids already)
    op.execute("INSERT INTO records_fts (rowid, title, excerpt, body) "
               "SELECT m.fts_rowid, r.title, r.excerpt, r.body FROM records_fts_pending p "
               "JOIN records_fts_ids m ON m.fts_rowid = p.fts_rowid "
               "JOIN records r ON r.id = m.record_id ORDER BY m.fts_rowid")
    op.execute("DROP TABLE records_fts_pending")
    op.execute("CREATE TABLE records_fts_queue (seq INTEGER PRIMARY KEY, "
               "record_id VARCHAR(16) NOT NULL)")
    create_sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    index_queue()
    op.execute("DROP TABLE records_fts_queue")
    op.execute("CREATE TABLE records_fts_pending (fts_rowid INTEGER PRIMARY KEY)")
    for name in ("records_fts_insert", "records_fts_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("""CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
         INSERT INTO records_fts_ids(record_id) VALUES (new.id);
         INSERT INTO records_fts_pending(fts_rowid)
           SELECT fts_rowid FROM records_fts_ids WHERE record_id = new.id;
       END""")
    op.execute("""CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
         DELETE FROM records_fts
           WHERE rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = old.id);
         DELETE FROM records_fts_pending
           WHERE fts_rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = old.id);
         DELETE FROM records_fts_ids WHERE record_id = old.id;
       END""")
