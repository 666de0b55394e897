"""ingestion: feed source state, GUIDs seen per source, title keys of records

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feed_sources',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('config_url', sa.Text(), nullable=False),
    sa.Column('etag', sa.Text(), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.Column('last_status', sa.String(length=50), nullable=True),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('next_due_at', sa.DateTime(), nullable=True),
    sa.Column('last_fetched_at', sa.DateTime(), nullable=True),
    sa.Column('last_success_at', sa.DateTime(), nullable=True),
    sa.Column('lease_owner', sa.String(length=200), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_feed_sources'))
    )
    with op.batch_alter_table('feed_sources', schema=None) as batch_op:
        batch_op.create_index('ix_feed_sources_next_due_at', ['next_due_at'], unique=False)

    op.create_table('source_entries',
    sa.Column('source_name', sa.String(length=200), nullable=False),
    sa.Column('guid_key', sa.String(length=40), nullable=False),
    sa.Column('record_id', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_source_entries_record_id_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source_name', 'guid_key', name=op.f('pk_source_entries'))
    )
    with op.batch_alter_table('source_entries', schema=None) as batch_op:
        batch_op.create_index('ix_source_entries_record_id', ['record_id'], unique=False)

    op.create_table('record_title_keys',
    sa.Column('record_id', sa.String(length=16), nullable=False),
    sa.Column('title_key', sa.String(length=40), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_record_title_keys_record_id_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_record_title_keys'))
    )
    with op.batch_alter_table('record_title_keys', schema=None) as batch_op:
        batch_op.create_index('ix_record_title_keys_title_key', ['title_key'], unique=False)


def downgrade() -> None:
    op.drop_table('record_title_keys')
    op.drop_table('source_entries')
    op.drop_table('feed_sources')
