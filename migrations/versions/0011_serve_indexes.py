"""serve indexes: a topic's hottest stories from one index range scan (issue 19)

Revision ID: 0011_serve_indexes
Revises: 0010_workers
Create Date: 2026-12-05 17:30:00

A topic page sorted hottest first ordered the topic's links by the record's heat, which lives on
`records`: every link of the topic was joined and sorted (350-480 ms for the largest topic of
100,000 records).  `record_topics` already carries a copy of the record's publication state and
date for the newest-first page; it now carries the heat too (NULL stored as -1, the value the
hottest-first order gives "no heat"), and an index on (topic_id, published, heat,
published_at, record_id) hands out the first page in order, stopping after it.

The store writes the copy with the links; a trigger copies a changed `records.heat` (the judge's
heat pass, key rotation's narrow updates, anything else that writes the column).
"""

import sqlalchemy as sa
from alembic import op


revision = "0011_serve_indexes"
down_revision = "0010_workers"
branch_labels = None
depends_on = None

INDEX = "ix_record_topics_topic_hottest"
INDEX_COLUMNS = ["topic_id", "published", "heat", "published_at", "record_id"]


def upgrade() -> None:
    with op.batch_alter_table("record_topics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heat", sa.Integer(), nullable=False,
                                      server_default="-1"))
    op.execute("UPDATE record_topics SET heat = coalesce((SELECT records.heat FROM records "
               "WHERE records.id = record_topics.record_id), -1)")
    op.create_index(INDEX, "record_topics", INDEX_COLUMNS)
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("""
            CREATE TRIGGER record_topics_copy_heat AFTER UPDATE OF heat ON records
            WHEN OLD.heat IS NOT NEW.heat
            BEGIN
              UPDATE record_topics SET heat = coalesce(NEW.heat, -1) WHERE record_id = NEW.id;
            END""")
    elif dialect == "postgresql":
        op.execute("""
            CREATE FUNCTION record_topics_copy_heat() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              UPDATE record_topics SET heat = coalesce(NEW.heat, -1) WHERE record_id = NEW.id;
              RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER record_topics_copy_heat AFTER UPDATE OF heat ON records "
                   "FOR EACH ROW WHEN (OLD.heat IS DISTINCT FROM NEW.heat) "
                   "EXECUTE FUNCTION record_topics_copy_heat()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS record_topics_copy_heat")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS record_topics_copy_heat ON records")
        op.execute("DROP FUNCTION IF EXISTS record_topics_copy_heat()")
    op.drop_index(INDEX, table_name="record_topics")
    with op.batch_alter_table("record_topics", schema=None) as batch_op:
        batch_op.drop_column("heat")
