"""reader site: change counter for HTTP validators, full-text search structures

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25 17:05:00

`site_changes` holds one row whose `version` database triggers raise on every change to
`records`; the site caches its ETag/Last-Modified validators per version, so a conditional
request costs one primary-key read.

Full-text search is dialect-specific:
- SQLite: an FTS5 table `records_fts` (title, excerpt, body; porter stemming) kept in step by
  triggers.  Its rowids come from `records_fts_ids`, an INTEGER PRIMARY KEY table, because the
  implicit rowid of `records` is not stable across VACUUM or a table rebuild.
- PostgreSQL: a stored generated `tsvector` column `records.search_vector` (title weighted A,
  excerpt B, body C) with a GIN index.

NOTE for later migrations on SQLite: a batch ("move and copy") rebuild of `records` drops its
triggers; such a migration must run `create_sqlite_triggers()` of this module again.
"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"  # re-chained at merge: 0001 -> 0002 -> 0003 -> 0004 -> 0005
branch_labels = None
depends_on = None


SQLITE_TRIGGERS = [
    # change counter
    """CREATE TRIGGER site_changes_records_insert AFTER INSERT ON records
       BEGIN UPDATE site_changes SET version = version + 1 WHERE id = 1; END""",
    """CREATE TRIGGER site_changes_records_update AFTER UPDATE ON records
       BEGIN UPDATE site_changes SET version = version + 1 WHERE id = 1; END""",
    """CREATE TRIGGER site_changes_records_delete AFTER DELETE ON records
       BEGIN UPDATE site_changes SET version = version + 1 WHERE id = 1; END""",
    # full-text index
    """CREATE TRIGGER records_fts_insert AFTER INSERT ON records BEGIN
         INSERT INTO records_fts_ids(record_id) VALUES (new.id);
         INSERT INTO records_fts(rowid, title, excerpt, body) VALUES (
           (SELECT fts_rowid FROM records_fts_ids WHERE record_id = new.id),
           new.title, new.excerpt, new.body);
       END""",
    """CREATE TRIGGER records_fts_update AFTER UPDATE OF title, excerpt, body ON records BEGIN
         UPDATE records_fts SET title = new.title, excerpt = new.excerpt, body = new.body
           WHERE rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = new.id);
       END""",
    """CREATE TRIGGER records_fts_delete AFTER DELETE ON records BEGIN
         DELETE FROM records_fts
           WHERE rowid = (SELECT fts_rowid FROM records_fts_ids WHERE record_id = old.id);
         DELETE FROM records_fts_ids WHERE record_id = old.id;
       END""",
]

SQLITE_TRIGGER_NAMES = ["site_changes_records_insert", "site_changes_records_update",
                        "site_changes_records_delete", "records_fts_insert",
                        "records_fts_update", "records_fts_delete"]


def create_sqlite_triggers() -> None:
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "site_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_changes")),
    )
    op.execute("INSERT INTO site_changes (id, version) VALUES (1, 0)")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE TABLE records_fts_ids (fts_rowid INTEGER PRIMARY KEY, "
                   "record_id VARCHAR(16) NOT NULL UNIQUE)")
        op.execute("CREATE VIRTUAL TABLE records_fts USING fts5(title, excerpt, body, "
                   "tokenize = 'porter unicode61 remove_diacritics 2')")
        op.execute("INSERT INTO records_fts_ids (record_id) SELECT id FROM records ORDER BY id")
        op.execute("INSERT INTO records_fts (rowid, title, excerpt, body) "
                   "SELECT m.fts_rowid, r.title, r.excerpt, r.body "
                   "FROM records_fts_ids m JOIN records r ON r.id = m.record_id")
        create_sqlite_triggers()
    elif dialect == "postgresql":
        op.execute("""
            CREATE FUNCTION site_changes_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE site_changes SET version = version + 1 WHERE id = 1;
              RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER site_changes_records AFTER INSERT OR UPDATE OR DELETE "
                   "ON records FOR EACH STATEMENT EXECUTE FUNCTION site_changes_bump()")
        op.execute("""
            ALTER TABLE records ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
              setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
              setweight(to_tsvector('english', coalesce(excerpt, '')), 'B') ||
              setweight(to_tsvector('english', coalesce(body, '')), 'C')) STORED""")
        op.execute("CREATE INDEX ix_records_search_vector ON records USING gin (search_vector)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS records_fts")
        op.execute("DROP TABLE IF EXISTS records_fts_ids")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_records_search_vector")
        op.execute("ALTER TABLE records DROP COLUMN IF EXISTS search_vector")
        op.execute("DROP TRIGGER IF EXISTS site_changes_records ON records")
        op.execute("DROP FUNCTION IF EXISTS site_changes_bump()")
    op.drop_table("site_changes")
