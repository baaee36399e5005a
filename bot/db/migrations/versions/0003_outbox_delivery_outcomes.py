"""outbox delivery outcomes (issue 15)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

A send whose outcome is unknown is counted (resent at most once), and a mail refused for good
records when.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbound_mail') as batch:
        batch.add_column(sa.Column('unknown_outcomes', sa.Integer(), server_default='0', nullable=False))
        batch.add_column(sa.Column('failed_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbound_mail') as batch:
        batch.drop_column('failed_at')
        batch.drop_column('unknown_outcomes')
