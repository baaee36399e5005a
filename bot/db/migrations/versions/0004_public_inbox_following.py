"""public-inbox following (issue 16): a cursor per archive epoch, when following began, and
proof of delivery on outbound mail

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbox_follow',
        sa.Column('project', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('last_read_at', sa.DateTime(), nullable=True),
        sa.Column('last_epoch', sa.Integer(), nullable=True),
        sa.Column('last_commit', sa.String(length=64), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=False),
        sa.Column('begun', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('project'),
    )
    op.create_table(
        'inbox_epoch',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('project', sa.String(length=64), nullable=False),
        sa.Column('epoch', sa.Integer(), nullable=False),
        sa.Column('cursor', sa.String(length=64), nullable=True),
        sa.Column('history_until', sa.String(length=64), nullable=True),
        sa.Column('commits', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('rewrites', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('project', 'epoch', name='uq_inbox_epoch'),
    )
    op.create_index('ix_inbox_epoch_project', 'inbox_epoch', ['project'])
    with op.batch_alter_table('outbound_mail') as batch:
        batch.add_column(sa.Column('on_list_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbound_mail') as batch:
        batch.drop_column('on_list_at')
    op.drop_index('ix_inbox_epoch_project', table_name='inbox_epoch')
    op.drop_table('inbox_epoch')
    op.drop_table('inbox_follow')
