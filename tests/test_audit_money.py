"""The audit entries of money movements as built from what the activities hold (no servers): keys
name the movement, amounts stay exact text, and no bank account appears in clear: a pain.001's
accounts, a statement's own account (architecture invariants 5, 9 and 13)."""

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

from activities import audit_money
from adapters.iso20022.pain001 import build_pain001
from adapters.sap_clearing import ItemClearing
from canonical.audit import canonical_json, mask_iban
from canonical.bank import PaymentFile, StatementEntry
from canonical.inbox import Delivery
from canonical.payment import BankStatus, BankStatusReport, PaymentInstruction, PaymentRecord
from canonical.payment_run import PaymentFileRef
from settings import DEFAULT_PAYING_ACCOUNTS

CREDITOR_IBAN, OUR_IBAN = "DE89370400440532013000", DEFAULT_PAYING_ACCOUNTS["ACME"].iban
IBAN = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}")


def _record(e2e: str = "1710-1000013-INV7/1") -> PaymentRecord:
    return PaymentRecord(end_to_end_id=e2e, invoice_key="1710-1000013-INV7", workflow_id="invoice-1710-1000013-INV7",
                         run_key="ACME-20261127-1", message_id="FS-ACME-20261127-1-01",
                         payment_info_id="FS-ACME-20261127-1-01-P", attempt=1, amount=Decimal("1190.10"),
                         currency="EUR", remittance_reference="5100000001", accounting_document="0100000007")


def _text(entries) -> str:
    return " ".join(f"{e.key} {canonical_json(e.after)}" for e in entries)


def test_a_sent_file_names_its_bytes_and_each_payment_with_accounts_masked():
    record = _record()
    xml = build_pain001(PaymentFile(
        message_id=record.message_id, payment_info_id=record.payment_info_id,
        created_at=datetime(2026, 11, 27, tzinfo=UTC), execution_date=date(2026, 11, 27),
        debtor=DEFAULT_PAYING_ACCOUNTS["ACME"], payments=[PaymentInstruction(
            invoice_key=record.invoice_key, attempt=1, end_to_end_id=record.end_to_end_id, amount=record.amount,
            currency="EUR", requested_execution_date=date(2026, 11, 27), creditor_name="Supplier GmbH",
            creditor_iban=CREDITOR_IBAN, remittance_reference=record.remittance_reference)]))
    ref = PaymentFileRef(message_id=record.message_id, number=1, sha256="ab" * 32, payments=1, total=record.amount)
    file_entry, payment = audit_money.payment_file_sent(ref, [record], xml, duplicate=False)
    assert (file_entry.key, file_entry.invoice_key) == ("FS-ACME-20261127-1-01/SENT", None)
    assert json.loads(canonical_json(file_entry.after) or "")["total"] == "1190.10"
    assert (payment.key, payment.invoice_key) == ("1710-1000013-INV7/1/SENT", "1710-1000013-INV7")
    assert (payment.after or {})["creditor_account"] == "DE****3000" == mask_iban(CREDITOR_IBAN)
    assert (payment.after or {})["debtor_account"] == "NL****0001"
    assert IBAN.findall(_text([file_entry, payment])) == []


def test_bank_answers_per_payment_a_return_with_its_amount_and_reason():
    record = _record()
    returned = Delivery(workflow_id=record.workflow_id, signal="bank_status", report=BankStatusReport(
        message_id="PACS004-1", end_to_end_id=record.end_to_end_id, status=BankStatus.RETURNED, reason_code="AC04",
        amount=Decimal("1190.10"), booking_date=date(2026, 11, 30)))
    unknown = returned.model_copy(update={"report": returned.report.model_copy(update={"end_to_end_id": "other/1"})})
    [entry] = audit_money.bank_answers("7:abc", None, [returned, unknown], {record.end_to_end_id: record})
    assert (entry.key, entry.action, entry.actor) == ("1710-1000013-INV7/1/RETURNED", "returned by the bank", "bank")
    assert canonical_json(entry.after) == (
        '{"amount":"1190.10","attempt":1,"bank_document_id":"PACS004-1","bank_message_id":"7:abc",'
        '"booking_date":"2026-11-30","currency":"EUR","end_to_end_id":"1710-1000013-INV7/1",'
        '"message_id":"FS-ACME-20261127-1-01","reason_code":"AC04","run_key":"ACME-20261127-1","status":"RETURNED"}')


def test_a_statement_post_and_what_it_cleared_or_reopened_never_show_our_account():
    paid, back = _record(), _record("1710-1000013-INV7/2")
    item = ItemClearing(accounting_document="0100000007", company_code="1710", fiscal_year="2026",
                        amount=Decimal("1190.10"), currency="EUR", clearing_document="0100000009",
                        clearing_fiscal_year="2026", clearing_date=date(2026, 11, 28))
    key = f"{OUR_IBAN}:00042"
    cleared, reopened = audit_money.erp_clearings(key, [
        (StatementEntry(amount=Decimal("1190.10"), currency="EUR", direction="DBIT"), paid, item),
        (StatementEntry(amount=Decimal("1190.10"), currency="EUR", direction="CRDT", is_return=True), back, item)])
    assert (cleared.key, reopened.key) == ("1710-1000013-INV7/1/CLEARED", "1710-1000013-INV7/2/REOPENED")
    assert (cleared.after or {})["statement"] == "NL****0001:00042"
    posted = audit_money.statement_posted(key, "9:def", "0000000000012345")
    other_account = audit_money.statement_posted("NL99MOCK9990000001:00042", "9:def", "0000000000012346")
    assert posted.key != other_account.key  # same country and last four, another account
    assert IBAN.findall(_text([cleared, reopened, posted])) == []
