"""series assembly independent of arrival order (issue 13)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

message.history (old mail: history, no run, no mail); message.facts + thread_root (series are
re-derived from the set of mails of a thread); series.group_key, change_id, sent_at; patch.title.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('history', sa.Boolean(), server_default='0', nullable=False))
        batch.add_column(sa.Column('facts', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('thread_root', sa.String(length=998), nullable=True))
        batch.create_index('ix_message_thread_root', ['thread_root'])
    with op.batch_alter_table('series') as batch:
        batch.add_column(sa.Column('group_key', sa.Text(), nullable=True))
        batch.add_column(sa.Column('change_id', sa.String(length=256), nullable=True))
        batch.add_column(sa.Column('sent_at', sa.DateTime(), nullable=True))
        batch.create_index('ix_series_group_key', ['group_key'])
        batch.create_index('ix_series_change_id', ['change_id'])
    with op.batch_alter_table('patch') as batch:
        batch.add_column(sa.Column('title', sa.Text(), server_default='', nullable=False))
        batch.add_column(sa.Column('title_key', sa.String(length=32), nullable=True))
        batch.create_index('ix_patch_title_key', ['title_key'])


def downgrade() -> None:
    with op.batch_alter_table('patch') as batch:
        batch.drop_index('ix_patch_title_key')
        batch.drop_column('title_key')
        batch.drop_column('title')
    with op.batch_alter_table('series') as batch:
        batch.drop_index('ix_series_change_id')
        batch.drop_index('ix_series_group_key')
        batch.drop_column('sent_at')
        batch.drop_column('change_id')
        batch.drop_column('group_key')
    with op.batch_alter_table('message') as batch:
        batch.drop_index('ix_message_thread_root')
        batch.drop_column('thread_root')
        batch.drop_column('facts')
        batch.drop_column('history')
