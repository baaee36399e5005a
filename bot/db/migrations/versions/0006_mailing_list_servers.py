"""mailing-list servers (issue 17): the list server's own mail is marked, and a post the list
changed keeps the author's copy for git am

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.add_column(sa.Column('list_notice', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('author_raw', sa.LargeBinary(), nullable=True))
        batch.create_index('ix_message_list_notice', ['list_notice'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.drop_index('ix_message_list_notice')
        batch.drop_column('author_raw')
        batch.drop_column('list_notice')
