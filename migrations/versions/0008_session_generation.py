"""editors: a session generation per account, so that signing out and disabling end sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:00:00

A signed session cookie was valid until it expired, whatever happened on the server: a cookie
copied before sign-out still signed its holder in, and one copied before an account was
disabled worked again once the account was re-enabled (security issue 15).  The session stamp
(`app.auth.session_stamp`) now mixes in `editor_users.session_generation`, which sign-out,
disabling and a new password increase; every cookie made before that stops working.  Existing
rows start at 0.  The stamp's formula changes with this revision, so editors signed in before
the upgrade sign in once more.
"""

import sqlalchemy as sa
from alembic import op


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("editor_users", sa.Column("session_generation", sa.Integer(),
                                            server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("editor_users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
