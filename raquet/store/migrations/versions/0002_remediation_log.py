"""The remediation log's table, which version-1 stores created only once a remediation ran.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remediations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("sweep_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.Column("operations", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("operator", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verify_sweep_id", sa.String(length=36), nullable=True),
        sa.Column("undo", sa.JSON(), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediations")),
    )
    op.create_index(op.f("ix_remediations_host"), "remediations", ["host"], unique=False)
    op.create_index(
        op.f("ix_remediations_started_at"), "remediations", ["started_at"], unique=False
    )
    op.create_index(op.f("ix_remediations_sweep_id"), "remediations", ["sweep_id"], unique=False)
    op.create_index(op.f("ix_remediations_unit"), "remediations", ["unit"], unique=False)
