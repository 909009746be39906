"""The audit trail (architecture invariant 13): audit_entry, each entry chained to the one
before it by hash, and audit_chain_head, the one row appends lock and that names the last
entry (adapters/audit_log.py).

Revision ID: 0002_audit_trail
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_trail"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64  # canonical.audit.GENESIS_HASH, written out: a revision never changes


def _s(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.BigInteger(), nullable=False, autoincrement=False), _s("entry_key"),
        _s("invoice_key", True), _s("kind"), _s("action"), _s("actor"), _s("verified_by"), _s("before", True),
        _s("after", True), _ts("occurred_at"), _ts("recorded_at"), _s("previous_hash"), _s("entry_hash"),
        sa.PrimaryKeyConstraint("seq"), sa.UniqueConstraint("entry_key", name="uq_audit_entry_entry_key"))
    op.create_index("ix_audit_entry_invoice_key", "audit_entry", ["invoice_key"])
    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False), _s("entry_hash"), sa.PrimaryKeyConstraint("id"))
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": GENESIS_HASH}])


def downgrade() -> None:
    op.drop_table("audit_chain_head")
    op.drop_index("ix_audit_entry_invoice_key", "audit_entry")
    op.drop_table("audit_entry")
