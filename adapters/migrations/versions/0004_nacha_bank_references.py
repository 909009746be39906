"""The bank reference register (adapters/bank_references.py): what a NACHA account's bank names our
payments and files by (an entry's individual identification number and trace number; a file's
origin, creation date and time and file id modifier), mapped to our EndToEndId and MsgId.

Revision ID: 0004_nacha_bank_references
Revises: 0003_bank_change_changed_by
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_nacha_bank_references"
down_revision = "0003_bank_change_changed_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_reference",
        sa.Column("bank_reference", sa.String(), nullable=False),
        sa.Column("end_to_end_id", sa.String(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("bank_file_name", sa.String(), nullable=False),
        sa.Column("trace_number", sa.String(), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bank_reference"))
    op.create_index("ix_bank_reference_end_to_end_id", "bank_reference", ["end_to_end_id"])
    op.create_index("ix_bank_reference_bank_file_name", "bank_reference", ["bank_file_name"])


def downgrade() -> None:
    op.drop_index("ix_bank_reference_bank_file_name", "bank_reference")
    op.drop_index("ix_bank_reference_end_to_end_id", "bank_reference")
    op.drop_table("bank_reference")
