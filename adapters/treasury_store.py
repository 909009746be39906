"""finsync's own treasury store: one expected outflow per invoice, and the cash positions
they add up to per company code, currency and value date.

SQLite by default (settings.treasury_db_url), PostgreSQL for replicas (adapters/database.py);
its schema and every other store's on this database come from the migrations.
Synchronous on purpose: activities call it through `asyncio.to_thread`, workflows never.
"""

import json
from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import Index
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.database import ensure_schema, treasury_engine
from canonical.money import check_scale, format_amount
from canonical.treasury import CashPosition, ExpectedOutflow, OutflowState


class OutflowNotFound(LookupError):
    """The bank settled an invoice treasury never expected: a discrepancy for a person,
    not something to paper over by inventing a row."""


class OutflowRow(SQLModel, table=True):
    __tablename__ = "treasury_outflow"
    __table_args__ = (Index("ix_treasury_outflow_position", "company_code", "currency", "value_date"),)

    invoice_key: str = Field(primary_key=True)
    company_code: str
    supplier_id: str
    currency: str
    # Decimal string, never a float column: SQLite's REAL would turn 0.10 into 0.1000000000000000055.
    amount: str
    value_date: date
    state: str
    approvers: str | None = None  # JSON list: who approved the invoice (payment-run release)

    def to_canonical(self) -> ExpectedOutflow:
        return ExpectedOutflow(
            invoice_key=self.invoice_key, company_code=self.company_code, supplier_id=self.supplier_id,
            currency=self.currency, amount=Decimal(self.amount), value_date=self.value_date,
            state=OutflowState(self.state), approvers=json.loads(self.approvers or "[]"),
        )


class TreasuryStore:
    def __init__(self, url: str):
        self.engine = treasury_engine(url)
        ensure_schema(self.engine)  # every table of the treasury database, at the newest revision

    @classmethod
    def from_settings(cls, s) -> "TreasuryStore":
        return cls(s.treasury_db_url)

    def upsert_expected_outflow(self, outflow: ExpectedOutflow) -> ExpectedOutflow:
        """Keyed by invoice key. The invoice's lifecycle owns its row, so whatever it sends
        last wins (a new due date or amount, or EXPECTED again after a returned payment);
        the same input twice leaves one unchanged row, so an activity retry is harmless."""
        values = {
            "company_code": outflow.company_code,
            "supplier_id": outflow.supplier_id,
            "currency": outflow.currency,
            # Scale fixed to the currency so "1050.1" and "1050.10" are the same stored text.
            "amount": format_amount(check_scale(outflow.amount, outflow.currency, "expected outflow")),
            "value_date": outflow.value_date,
            "state": outflow.state.value,
        }
        if outflow.approvers:  # an update without them (e.g. ACTUAL after settlement) keeps them
            values["approvers"] = json.dumps(outflow.approvers)
        try:
            return self._write(outflow.invoice_key, values)
        except IntegrityError:
            # Another store inserted the same key between our read and our insert; it is
            # now an update.
            return self._write(outflow.invoice_key, values)

    def _write(self, invoice_key: str, values: dict) -> ExpectedOutflow:
        with Session(self.engine) as session:
            row = session.get(OutflowRow, invoice_key)
            if row is None:
                row = OutflowRow(invoice_key=invoice_key, **values)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
            session.add(row)
            session.commit()
            session.refresh(row)
            return row.to_canonical()

    def get_outflow(self, invoice_key: str) -> ExpectedOutflow | None:
        with Session(self.engine) as session:
            row = session.get(OutflowRow, invoice_key)
            return row.to_canonical() if row else None

    def withdraw_outflow(self, invoice_key: str) -> None:
        """The invoice was cancelled: it no longer weighs on the cash position. Kept, not
        deleted, so treasury can see what was expected and why it went."""
        with Session(self.engine) as session:
            row = session.get(OutflowRow, invoice_key)
            if row is None:
                return
            row.state = OutflowState.WITHDRAWN.value
            session.add(row)
            session.commit()

    def mark_actual(self, invoice_key: str, value_date: date, amount: Decimal) -> None:
        """The bank settled it: the outflow moves from expected to actual, on the bank's
        value date and for the amount the bank booked (which may differ from the forecast)."""
        if not self.mark_actual_booked([(invoice_key, value_date, amount)]):
            raise OutflowNotFound(f"no expected outflow for invoice {invoice_key}; "
                                  "the bank settled an unknown payment")

    def mark_actual_booked(self, bookings: list[tuple[str, date, Decimal]]) -> set[str]:
        """`mark_actual` for a batch of the bank's debits (invoice key, booking date, amount) in one
        transaction; returns the invoice keys it moved. One with no row is left to its lifecycle."""
        moved: set[str] = set()
        with Session(self.engine) as session:
            for invoice_key, value_date, amount in bookings:
                row = session.get(OutflowRow, invoice_key)
                if row is None:
                    continue
                row.state, row.value_date = OutflowState.ACTUAL.value, value_date
                row.amount = format_amount(check_scale(amount, row.currency, "actual outflow"))
                session.add(row)
                moved.add(invoice_key)
            session.commit()
        return moved

    def due_outflows(self, company_code: str, currency: str, due_by: date) -> list[ExpectedOutflow]:
        """What a payment run may pay: still expected, in this company code and currency, due
        by `due_by`. The lifecycles have the last word (a held invoice refuses to join)."""
        query = (
            select(OutflowRow)
            .where(OutflowRow.state == OutflowState.EXPECTED.value, OutflowRow.company_code == company_code,
                   OutflowRow.currency == currency, OutflowRow.value_date <= due_by)
            .order_by(col(OutflowRow.value_date), col(OutflowRow.invoice_key))
        )
        with Session(self.engine) as session:
            return [row.to_canonical() for row in session.exec(query)]

    def cash_positions(self, company_code: str | None = None) -> list[CashPosition]:
        """Per (company code, currency, value date). Summed as Decimal in Python: SQL SUM
        over text would go through a float."""
        query = select(OutflowRow).where(OutflowRow.state != OutflowState.WITHDRAWN.value)
        if company_code is not None:
            query = query.where(OutflowRow.company_code == company_code)
        expected: dict[tuple, Decimal] = defaultdict(Decimal)
        actual: dict[tuple, Decimal] = defaultdict(Decimal)
        invoices: dict[tuple, int] = defaultdict(int)
        with Session(self.engine) as session:
            for row in session.exec(query):
                key = (row.company_code, row.currency, row.value_date)
                bucket = actual if row.state == OutflowState.ACTUAL.value else expected
                bucket[key] += Decimal(row.amount)
                invoices[key] += 1
        return [
            CashPosition(
                company_code=key[0], currency=key[1], value_date=key[2], invoices=count,
                expected_outflow=check_scale(expected[key], key[1], "expected outflow"),
                actual_outflow=check_scale(actual[key], key[1], "actual outflow"),
            )
            for key, count in sorted(invoices.items())
        ]
