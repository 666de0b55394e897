"""search: index new records in batches (SQLite)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 19:50:00

On SQLite, 0005's trigger put every inserted record into the FTS5 index at once.  FTS5 writes
a new index segment at every commit and merges segments as they pile up, so a record indexed in
a commit of 50 costs about five times one indexed in a commit of thousands; ingestion commits
once per source.  Now the insert trigger only queues the record in `records_fts_pending`, and
`app.store.search.index_pending()` indexes the queue in one statement: at the end of an
ingestion pass or an import (and every few thousand records during one), and before any search
that finds the queue non-empty, so a search never misses a record.  Updates and deletes keep
the index in step at once, as before (an update of a queued record changes nothing indexed,
and the queue indexes its latest text).

PostgreSQL is unchanged (its generated tsvector column is computed by the server).

NOTE for later migrations on SQLite: a batch ("move and copy") rebuild of `records` drops its
triggers; such a migration must run 0005's `create_sqlite_triggers()` and then this module's
`create_sqlite_triggers()`.
"""

from alembic import op


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


SQLITE_TRIGGERS = [
    """CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
         INSERT INTO records_fts_ids(record_id) VALUES (new.id);
         INSERT INTO records_fts_pending(fts_rowid)
           SELECT fts_rowid FROM records_fts_ids WHERE record_id = new.id;
       END""",
    """CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
         DELETE FROM records_fts
           WHERE rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = old.id);
         DELETE FROM records_fts_pending
           WHERE fts_rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = old.id);
         DELETE FROM records_fts_ids WHERE record_id = old.id;
       END""",
]


def create_sqlite_triggers() -> None:
    for name in ("records_fts_insert", "records_fts_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE records_fts_pending (fts_rowid INTEGER PRIMARY KEY)")
    create_sqlite_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # index what is queued, then go back to 0005's triggers
    op.execute("INSERT INTO records_fts (rowid, title, excerpt, body) "
               "SELECT m.fts_rowid, r.title, r.excerpt, r.body FROM records_fts_pending p "
               "JOIN records_fts_ids m ON m.fts_rowid = p.fts_rowid "
               "JOIN records r ON r.id = m.record_id")
    for name in ("records_fts_insert", "records_fts_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("""CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
         INSERT INTO records_fts_ids(record_id) VALUES (new.id);
         INSERT INTO records_fts(rowid, title, excerpt, body) VALUES (
           (SELECT fts_rowid FROM records_fts_ids WHERE record_id = new.id),
           new.title, new.excerpt, new.body);
       END""")
    op.execute("""CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
         DELETE FROM records_fts
           WHERE rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = old.id);
         DELETE FROM records_fts_ids WHERE record_id = old.id;
       END""")
    op.execute("DROP TABLE records_fts_pending")
