"""The tables of raquet's first schema (raquet_schema version 1), frozen here.

Stores written before Alembic are stamped at this revision (or 0002, when they
already hold the remediation log) and upgraded from there.

Revision ID: 0001
Revises: None
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("indicator_count", sa.Integer(), nullable=False),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
        sa.UniqueConstraint("name", name=op.f("uq_feeds_name")),
    )
    op.create_table(
        "pending_updates",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("package", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_updates")),
        sa.UniqueConstraint("key", name=op.f("uq_pending_updates_key")),
    )
    op.create_index(op.f("ix_pending_updates_host"), "pending_updates", ["host"], unique=False)
    op.create_table(
        "raquet_schema",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raquet_schema")),
    )
    op.create_table(
        "sweeps",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inventory", sa.Text(), nullable=False),
        sa.Column("province", sa.Text(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sweeps")),
    )
    op.create_index(op.f("ix_sweeps_inventory"), "sweeps", ["inventory"], unique=False)
    op.create_index(op.f("ix_sweeps_started_at"), "sweeps", ["started_at"], unique=False)
    op.create_index(
        op.f("ix_sweeps_status_started_at"), "sweeps", ["status", "started_at"], unique=False
    )
    op.create_table(
        "detections",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("first_sweep_id", sa.String(length=36), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_sweep_id"], ["sweeps.id"], name=op.f("fk_detections_first_sweep_id_sweeps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detections")),
        sa.UniqueConstraint("key", name=op.f("uq_detections_key")),
    )
    op.create_index(op.f("ix_detections_detected_at"), "detections", ["detected_at"], unique=False)
    op.create_index(
        op.f("ix_detections_host_detected_at"), "detections", ["host", "detected_at"], unique=False
    )
    op.create_index(
        op.f("ix_detections_unit_detected_at"), "detections", ["unit", "detected_at"], unique=False
    )
    op.create_table(
        "host_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("os", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweeps.id"],
            name=op.f("fk_host_results_sweep_id_sweeps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_host_results")),
        sa.UniqueConstraint("sweep_id", "host", name=op.f("uq_host_results_sweep_id_host")),
    )
    op.create_index(
        op.f("ix_host_results_finished_at"), "host_results", ["finished_at"], unique=False
    )
    op.create_index(op.f("ix_host_results_host"), "host_results", ["host"], unique=False)
    op.create_index(op.f("ix_host_results_unit"), "host_results", ["unit"], unique=False)
    op.create_table(
        "indicators",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["feed_id"], ["feeds.id"], name=op.f("fk_indicators_feed_id_feeds"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicators")),
    )
    op.create_index(op.f("ix_indicators_feed_id"), "indicators", ["feed_id"], unique=False)
    op.create_index(op.f("ix_indicators_kind_value"), "indicators", ["kind", "value"], unique=False)
    op.create_table(
        "sweep_hosts",
        sa.Column("sweep_id", sa.String(length=36), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweeps.id"],
            name=op.f("fk_sweep_hosts_sweep_id_sweeps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sweep_id", "host", name=op.f("pk_sweep_hosts")),
    )
    op.create_index(op.f("ix_sweep_hosts_host"), "sweep_hosts", ["host"], unique=False)
    op.create_index(op.f("ix_sweep_hosts_unit"), "sweep_hosts", ["unit"], unique=False)
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_result_id", sa.Integer(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["host_result_id"],
            ["host_results.id"],
            name=op.f("fk_findings_host_result_id_host_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    op.create_index(
        op.f("ix_findings_host_result_id"), "findings", ["host_result_id"], unique=False
    )
    op.execute("INSERT INTO raquet_schema (id, version) VALUES (1, 1)")
