"""workers: heartbeats and enrichment leases (issue 16)

Revision ID: 0010_workers
Revises: 0009
Create Date: 2026-12-05 10:45:00

Several `newsdesk worker` processes share one database.  Each writes a heartbeat row (who it is,
where, when it last beat and passed, its last error, its counters for /metrics) and renews its
leases with it; a worker that stops beating loses its leases after NEWSDESK_LEASE_TIMEOUT.
Enrichment leases hold one record's page for one worker, as feed_sources.lease_* hold a source.
"""

import sqlalchemy as sa
from alembic import op


revision = "0010_workers"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_heartbeats",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("beat_at", sa.DateTime(), nullable=False),
        sa.Column("last_pass_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("config_hash", sa.String(length=64), nullable=True),
        sa.Column("stopped", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("passes", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pass_seconds", sa.Float(), nullable=False, server_default="0"),
        sa.Column("last_pass_seconds", sa.Float(), nullable=True),
        sa.Column("sources_fetched", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sources_not_modified", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("sources_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("records_new", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("fetches_avoided", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("leases_taken_over", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_heartbeats")),
    )
    op.create_table(
        "enrichment_leases",
        sa.Column("record_id", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_enrichment_leases")),
    )
    op.create_index(op.f("ix_enrichment_leases_owner"), "enrichment_leases", ["owner"])
    op.create_index(op.f("ix_feed_sources_lease_owner"), "feed_sources", ["lease_owner"])


def downgrade() -> None:
    op.drop_index(op.f("ix_feed_sources_lease_owner"), table_name="feed_sources")
    op.drop_index(op.f("ix_enrichment_leases_owner"), table_name="enrichment_leases")
    op.drop_table("enrichment_leases")
    op.drop_table("worker_heartbeats")
