"""build side: real trees, lazy baseline, sandbox (issues 11, 12, 14)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Reserved for its issue: empty until that work lands (kept in the chain so that revisions made in
parallel line up without renumbering).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # --- issue 12 (sandbox): what each worker's build sandbox enforces, for `seriesbot status` ---
    with op.batch_alter_table("worker_heartbeat") as batch:
        batch.add_column(sa.Column("sandbox", sa.JSON(), nullable=True))
    # --- end issue 12 ---


def downgrade() -> None:
    # --- issue 12 (sandbox) ---
    with op.batch_alter_table("worker_heartbeat") as batch:
        batch.drop_column("sandbox")
    # --- end issue 12 ---
