"""The payment run store's reservation answers (adapters/payment_run_store.py): each invoice
takes its own lifecycle's answer once, whatever kinds of answers share a chunk."""

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlmodel import Session, select

from adapters.payment_run_store import DROPPED, REFUSED, RESERVED, SELECTED, PaymentRunStore, RunHeaderRow, RunItemRow
from adapters.treasury_store import TreasuryStore
from canonical.treasury import ExpectedOutflow

RUN = "ACME-20261202-1"


def _runs(store: TreasuryStore) -> PaymentRunStore:
    runs = PaymentRunStore(store.engine)
    header = RunHeaderRow(run_key=RUN, workflow_id="payment-run-ACME", workflow_run_id="r1", paying_account_id="ACME",
                          payment_run_id="A12021", run_date=date(2026, 12, 2), selected_at=datetime.now(UTC))
    assert runs.record_selection(header, [
        ExpectedOutflow(invoice_key=f"1710-1000013-INV{i}", company_code="1710", supplier_id="1000013",
                        currency="EUR", amount=Decimal("1190.00"), value_date=date(2026, 12, 2)) for i in range(4)])
    return runs


def _reserved(key: str, e2e: str) -> dict:
    return {"invoice_key": key, "state": RESERVED, "workflow_id": f"invoice-{key}", "end_to_end_id": e2e,
            "amount": "1190.00", "invoice_document": "5105600001", "fiscal_year": "2026",
            "accounting_document": "5100000001", "reservation": b"sealed"}


def _rows(runs: PaymentRunStore) -> dict[str, RunItemRow]:
    with Session(runs.engine) as session:
        return {row.invoice_key: row for row in session.exec(select(RunItemRow).where(RunItemRow.run_key == RUN))}


def test_a_chunk_of_mixed_answers_sets_each_invoice_its_own_columns_once(store):
    runs = _runs(store)
    runs.record_reservations(RUN, [
        _reserved("1710-1000013-INV0", "E2E-0"),
        {"invoice_key": "1710-1000013-INV1", "state": REFUSED, "reason": "on hold"},
        _reserved("1710-1000013-INV2", "E2E-2") | {"state": DROPPED, "reason": "approved by the releaser"},
    ])
    rows = _rows(runs)
    assert {k: r.state for k, r in rows.items()} == {"1710-1000013-INV0": RESERVED, "1710-1000013-INV1": REFUSED,
                                                    "1710-1000013-INV2": DROPPED, "1710-1000013-INV3": SELECTED}
    assert rows["1710-1000013-INV0"].end_to_end_id == "E2E-0" and rows["1710-1000013-INV0"].reason is None
    assert rows["1710-1000013-INV0"].reservation == b"sealed"
    assert rows["1710-1000013-INV1"].reason == "on hold" and rows["1710-1000013-INV1"].end_to_end_id is None
    assert rows["1710-1000013-INV2"].end_to_end_id == "E2E-2"
    assert rows["1710-1000013-INV2"].reason == "approved by the releaser"

    # A retried chunk (the activity's next attempt) finds them answered: nothing changes.
    runs.record_reservations(RUN, [{"invoice_key": "1710-1000013-INV0", "state": REFUSED, "reason": "late"},
                                   _reserved("1710-1000013-INV1", "E2E-1")])
    again = _rows(runs)
    assert again["1710-1000013-INV0"].state == RESERVED and again["1710-1000013-INV0"].reason is None
    assert again["1710-1000013-INV1"].state == REFUSED and again["1710-1000013-INV1"].end_to_end_id is None
    assert runs.counts(RUN) == {RESERVED: 1, REFUSED: 1, DROPPED: 1, SELECTED: 1}
