"""enrichment: secured keys, enrichment state, provider logos, cached images

Revision ID: 0004
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'  # re-chained at merge
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.create_index('ix_records_published_at', ['published_at'], unique=False)
    op.create_table('secured_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('wrapped', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_secured_keys'))
    )
    op.create_table('enrichment_state',
    sa.Column('record_id', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_enrichment_state'))
    )
    with op.batch_alter_table('enrichment_state', schema=None) as batch_op:
        batch_op.create_index('ix_enrichment_state_state', ['state', 'next_attempt_at'], unique=False)
    op.create_table('provider_logos',
    sa.Column('domain', sa.String(length=255), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('source_url', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('domain', name=op.f('pk_provider_logos'))
    )
    op.create_table('cached_images',
    sa.Column('url_key', sa.String(length=64), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('ext', sa.String(length=8), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('fetched_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('url_key', name=op.f('pk_cached_images'))
    )


def downgrade() -> None:
    op.drop_table('cached_images')
    op.drop_table('provider_logos')
    with op.batch_alter_table('enrichment_state', schema=None) as batch_op:
        batch_op.drop_index('ix_enrichment_state_state')
    op.drop_table('enrichment_state')
    op.drop_table('secured_keys')
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_index('ix_records_published_at')
