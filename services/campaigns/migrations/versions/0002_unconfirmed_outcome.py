"""Mails in doubt get their own outcome: `unconfirmed`, no longer `sent`.

Rows recorded before this version as ("sent", "smtp:unconfirmed") were sends
whose worker died mid-transaction: nobody saw the relay accept them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE deliveries SET outcome = 'unconfirmed', rule = 'smtp:worker_lost' "
        "WHERE outcome = 'sent' AND rule = 'smtp:unconfirmed'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE deliveries SET outcome = 'sent', rule = 'smtp:unconfirmed' "
        "WHERE outcome = 'unconfirmed'"
    )
