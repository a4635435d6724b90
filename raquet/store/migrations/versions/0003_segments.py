"""Several jump hosts: the segment each planned host is reached from, and who swept it.

raquet_schema becomes version 2, so a raquet from before Alembic refuses the store
instead of writing sweeps without segments into it.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sweep_hosts") as table:
        table.add_column(
            sa.Column("segment", sa.String(64), nullable=False, server_default="default")
        )
    with op.batch_alter_table("host_results") as table:
        table.add_column(sa.Column("swept_by", sa.Text(), nullable=True))
    op.execute("UPDATE raquet_schema SET version = 2")
