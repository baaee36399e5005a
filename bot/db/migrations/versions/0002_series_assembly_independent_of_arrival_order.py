"""series assembly independent of arrival order (issue 13)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Reserved for its issue: empty until that work lands (kept in the chain so that revisions made in
parallel line up without renumbering).
"""

from __future__ import annotations

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
