"""judgement: a sentence vector per record

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:00:00

The judge run (app/runs/judge.py) embeds a record's title and excerpt once and keeps the vector
(int8 with one float32 scale, 389 bytes) with the model that made it, so that related lists,
stories and topics of meaning never embed a record twice.  Vectors go with their record
(ON DELETE CASCADE).
"""

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_vectors",
        sa.Column("record_id", sa.String(length=16), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"],
                                name=op.f("fk_record_vectors_record_id_records"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("record_id", name=op.f("pk_record_vectors")),
    )


def downgrade() -> None:
    op.drop_table("record_vectors")
