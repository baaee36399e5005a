"""build side: real trees, lazy baseline, sandbox (issues 11, 12, 14)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Reserved for its issue: empty until that work lands (kept in the chain so that revisions made in
parallel line up without renumbering).
"""

from __future__ import annotations

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
