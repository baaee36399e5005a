"""outbox delivery outcomes (issue 15)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Reserved for its issue: empty until that work lands (kept in the chain so that revisions made in
parallel line up without renumbering).
"""

from __future__ import annotations

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
