"""Paid twice, from the bank's own reports (issue 11, item 7): the reconciliation counts the
debits the camt.054, camt.053 and camt.052 show, once per booking (AcctSvcrRef), net of
returns, instead of reading mock-bank's payment book. Recorded messages captured from mock-bank
(tests/adapters/fixtures), no server."""

from datetime import date
from decimal import Decimal
from pathlib import Path

from activities.drift_checks import booked_payments, paid_twice, payment_register
from adapters.payment_registers import PaymentRegisters
from canonical.bank import BankMessage, MessageKind
from canonical.payment import PaymentRecord

FIXTURES = Path(__file__).parent / "adapters" / "fixtures"
SINCE = date(2020, 1, 1)


def message(n: int, kind: MessageKind, body: str) -> BankMessage:
    return BankMessage(bank_message_id=f"{n}:test", kind=kind, account="ACME", body=body)


def register(registers: PaymentRegisters, end_to_end_id: str, invoice_key: str, attempt: int = 1) -> None:
    registers.register_payments([PaymentRecord(
        end_to_end_id=end_to_end_id, invoice_key=invoice_key, workflow_id=f"invoice-{invoice_key}",
        run_key="ACME-20260930-1", message_id="ACME-20260930-0001", payment_info_id="P", attempt=attempt,
        amount=Decimal("1190.00"), currency="EUR", remittance_reference=invoice_key)])


def test_a_booking_in_several_reports_counts_once_and_a_second_booking_is_paid_twice(store):
    registers = PaymentRegisters(store.engine)
    register(registers, "INV-0001", "1710-1000013-A")
    debits = (FIXTURES / "camt054_debits.xml").read_text()
    again = debits.replace("MB-PMT-1<", "MB-PMT-7<").replace("ACME-20260930-0001", "BY-HAND-1")
    registers.record_bank_messages([
        message(1, MessageKind.NOTIFICATION, debits),
        message(2, MessageKind.STATEMENT, (FIXTURES / "camt053_balanced.xml").read_text()),  # the same bookings
        message(3, MessageKind.INTRADAY_REPORT, (FIXTURES / "camt052_intraday.xml").read_text()),  # a credit only
    ])
    once = booked_payments(store.engine, "ACME", SINCE)
    assert sorted(b.entry_reference for b in once) == ["MB-PMT-1", "MB-PMT-4"]
    assert paid_twice(once, payment_register(store.engine)) == []

    registers.record_bank_messages([message(4, MessageKind.NOTIFICATION, again)])  # the same payment, new file
    [finding] = paid_twice(booked_payments(store.engine, "ACME", SINCE), payment_register(store.engine))
    assert finding.key == "1710-1000013-A" and finding.amount == Decimal("1190.00")
    assert "2 times" in finding.detail and "BY-HAND-1" in finding.detail and "MB-PMT-7" in finding.detail


def test_a_returned_payment_is_not_paid_twice(store):
    registers = PaymentRegisters(store.engine)
    register(registers, "RET-1", "1710-1000013-R")
    debit = (FIXTURES / "camt054_debits.xml").read_text().replace("INV-0004", "RET-1")
    second = debit.replace("MB-PMT-4<", "MB-PMT-8<").replace("ACME-20260930-0001", "ACME-20261002-0001")
    registers.record_bank_messages([
        message(1, MessageKind.NOTIFICATION, debit),
        message(2, MessageKind.NOTIFICATION, (FIXTURES / "camt054_returns.xml").read_text()),  # RET-1 came back
        message(3, MessageKind.NOTIFICATION, second),  # and was paid again: kept once
    ])
    kept = [b for b in booked_payments(store.engine, "ACME", SINCE) if b.end_to_end_id == "RET-1"]
    assert len(kept) == 1
    assert paid_twice(kept, payment_register(store.engine)) == []
    assert booked_payments(store.engine, "GLOBEX", SINCE) == []  # another account's reports are not ours
