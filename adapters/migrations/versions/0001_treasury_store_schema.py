"""The treasury store's schema as create_all made it before migrations: every table of
treasury_store, payment_registers, payment_run_store, lifecycle_outbox and vendor_store.

A database made by create_all (an embedded stack's `.finsync/treasury.db`) has no
alembic_version: this revision adopts it, creating only the tables and indexes it lacks and
adding the two columns that older stores added by hand (treasury_outflow.approvers,
payment_register.accounting_document). A new database gets everything.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _s(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    # sqlmodel's UTCDateTime: aware datetimes, TIMESTAMP WITH TIME ZONE in PostgreSQL.
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _int(name: str) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=False)


def _bool(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Boolean(), nullable=nullable)


def _tables() -> list[tuple[str, list[sa.Column], list[str], dict[str, list[str]]]]:
    """(table, columns, primary key, indexes by name), fresh Column objects on every call."""
    return [
        ("treasury_outflow", [_s("invoice_key"), _s("company_code"), _s("supplier_id"), _s("currency"), _s("amount"),
                              sa.Column("value_date", sa.Date(), nullable=False), _s("state"),
                              _s("approvers", True)],
         ["invoice_key"], {"ix_treasury_outflow_position": ["company_code", "currency", "value_date"]}),
        ("payment_run", [_s("run_key"), _s("workflow_run_id"), _ts("registered_at")], ["run_key"], {}),
        ("paying_account_lock", [_s("account_id"), _s("holder_workflow_id"), _ts("acquired_at")], ["account_id"], {}),
        ("payment_register", [_s("end_to_end_id"), _s("invoice_key"), _s("workflow_id"), _s("run_key"),
                              _s("message_id"), _s("payment_info_id"), _int("attempt"), _s("amount"), _s("currency"),
                              _s("remittance_reference"), _s("accounting_document", True)],
         ["end_to_end_id"], {f"ix_payment_register_{c}": [c] for c in
                             ("invoice_key", "message_id", "remittance_reference")}),
        ("bank_message", [_s("bank_message_id"), _s("kind"), _s("account", True), _s("body"), _ts("recorded_at"),
                          _ts("applied_at", True), _s("problem", True)],
         ["bank_message_id"], {"ix_bank_message_applied_at": ["applied_at"]}),
        ("payment_file_refusal", [_s("message_id"), _s("reason_code", True), _s("detail"), _ts("refused_at")],
         ["message_id"], {}),
        ("posted_statement", [_s("statement_key"), _s("bank_message_id"), _s("erp_reference"), _ts("posted_at")],
         ["statement_key"], {}),
        ("payment_run_header", [_s("run_key"), _s("workflow_id"), _s("workflow_run_id"), _s("paying_account_id"),
                                _s("payment_run_id"), sa.Column("run_date", sa.Date(), nullable=False),
                                _ts("selected_at"), _s("recovered_by", True), _ts("recovered_at", True),
                                _s("recovery_note", True)], ["run_key"], {}),
        ("payment_run_item", [_s("run_key"), _s("invoice_key"), _s("amount"), _s("currency"), _s("approvers"),
                              _s("state"), _s("reason", True), _s("workflow_id", True), _s("end_to_end_id", True),
                              _s("invoice_document", True), _s("fiscal_year", True), _s("accounting_document", True),
                              sa.Column("reservation", sa.LargeBinary(), nullable=True), _s("message_id", True),
                              _ts("updated_at")],
         ["run_key", "invoice_key"], {"ix_payment_run_item_state": ["run_key", "state", "invoice_key"]}),
        ("payment_run_file", [_s("message_id"), _s("run_key"), _int("number"), _s("sha256"), _int("payments"),
                              _s("total"), sa.Column("sealed_xml", sa.LargeBinary(), nullable=False), _s("records"),
                              _s("state"), _s("reason", True), _ts("built_at"), _ts("state_at")],
         ["message_id"], {"ix_payment_run_file_run_key": ["run_key"]}),
        ("lifecycle_outbox", [_s("batch_key"), _int("seq"), _s("workflow_id"), _s("signal"), _s("argument", True),
                              _bool("hint"), _ts("sent_at", True), _s("outcome", True)], ["batch_key", "seq"], {}),
        ("vendor", [_s("supplier_id"), _s("name"), _bool("is_blocked"), _s("vat_id", True), _bool("deleted"),
                    _ts("updated_at")], ["supplier_id"], {"ix_vendor_vat_id": ["vat_id"]}),
        ("vendor_bank_account", [_s("supplier_id"), _s("bank_account_id"), _s("country"), _s("masked", True),
                                 _s("fingerprint", True), _bool("has_iban"), _bool("iban_valid", True),
                                 _s("swift", True), _ts("updated_at")],
         ["supplier_id", "bank_account_id"], {"ix_vendor_bank_account_fingerprint": ["fingerprint"]}),
        ("vendor_sync_state", [_s("name"), _s("delta_token", True), _ts("synced_at")], ["name"], {}),
        ("vendor_bank_change", [sa.Column("id", sa.Integer(), nullable=False, autoincrement=True), _s("sync_key"),
                                _s("supplier_id"), _s("bank_account_id"), _s("old_masked", True),
                                _s("new_masked", True), _ts("detected_at")],
         ["id"], {f"ix_vendor_bank_change_{c}": [c] for c in ("sync_key", "supplier_id")}),
    ]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    existing = set(inspector.get_table_names())
    for name, columns, primary_key, indexes in _tables():
        have_indexes: set[str] = set()
        if name not in existing:
            op.create_table(name, *columns, sa.PrimaryKeyConstraint(*primary_key))
        else:  # made by create_all: only what it lacks (nullable columns, so no table copy)
            have_columns = {c["name"] for c in inspector.get_columns(name)}
            for column in columns:
                if column.name not in have_columns:
                    op.add_column(name, column)
            have_indexes = {i["name"] for i in inspector.get_indexes(name) if i["name"]}
        for index, index_columns in indexes.items():
            if index not in have_indexes:
                op.create_index(index, name, index_columns)


def downgrade() -> None:
    for name, *_ in reversed(_tables()):
        op.drop_table(name)
