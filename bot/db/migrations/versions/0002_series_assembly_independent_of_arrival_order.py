"""series assembly independent of arrival order (issue 13)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Reserved for its issue (message.history is its first part) (kept in the chain so that revisions made in
parallel line up without renumbering).
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


def downgrade() -> None:
    with op.batch_alter_table('message') as batch:
        batch.drop_column('history')
