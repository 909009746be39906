"""Who changed a supplier's bank details, where the ERP's records say (vendor_bank_change.changed_by):
a person the ERP names may not confirm the change (four eyes); NULL: the ERP keeps no changer. And
the new account's fingerprint (new_fingerprint), so a lifecycle knows which account was confirmed.

Revision ID: 0003_bank_change_changed_by
Revises: 0002_audit_trail
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_bank_change_changed_by"
down_revision = "0002_audit_trail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("vendor_bank_change")}
    with op.batch_alter_table("vendor_bank_change") as table:
        for name in ("changed_by", "new_fingerprint"):
            if name not in columns:
                table.add_column(sa.Column(name, sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("vendor_bank_change") as table:
        table.drop_column("new_fingerprint")
        table.drop_column("changed_by")
