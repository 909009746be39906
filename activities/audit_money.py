"""The audit entries of money movements (architecture invariant 13), built where the movement
is done or learnt: a payment file sent or refused (activities/payment_run.py), the bank's
answer about each payment (activities/bank_inbox.py), a statement posted to the ERP and the
items it cleared or reopened (activities/statement_posting.py).

Each entry's key names the movement, not the attempt to record it: "<EndToEndId>/SENT",
"<EndToEndId>/ACCEPTED", "<EndToEndId>/CLEARED", "<MsgId>/SENT". A retried activity, or the
bank sending one answer in two messages, finds the entry already there. Money movements have
no "before": each is a new fact, written whole in "after". Bank details appear masked only
(architecture invariant 9)."""

import hashlib
from datetime import UTC, datetime

from adapters.iso20022.pain001 import payment_accounts
from adapters.nacha import readers as nacha
from adapters.nacha.builder import individual_id
from adapters.sap_clearing import ItemClearing
from canonical.audit import AuditKind, AuditRecord, mask_iban
from canonical.bank import StatementEntry
from canonical.inbox import Delivery
from canonical.payment import BankStatus, PaymentRecord
from canonical.payment_run import PaymentFileRef

PAYMENT_RUN, BANK_INBOX, STATEMENT_POST = "system:payment-run", "system:bank-inbox", "system:statement-post"
FINSYNC, BANK, ERP = "finsync", "bank", "erp"  # who moved the money, for a system entry
_ACTIONS = {BankStatus.ACCEPTED: "accepted by the bank", BankStatus.REJECTED: "rejected by the bank",
            BankStatus.SETTLED: "settled by the bank", BankStatus.RETURNED: "returned by the bank",
            BankStatus.PARTIALLY_ACCEPTED: "partially accepted by the bank"}


def _money(record: PaymentRecord) -> dict:
    return {"end_to_end_id": record.end_to_end_id, "message_id": record.message_id, "amount": record.amount,
            "currency": record.currency, "run_key": record.run_key, "attempt": record.attempt}


def payment_file_sent(ref: PaymentFileRef, records: list[PaymentRecord], xml: bytes,
                      duplicate: bool) -> list[AuditRecord]:
    """One entry for the file (its hash ties the trail to the bytes, architecture invariant 3)
    and one per payment in it, with the accounts masked."""
    debtors, creditors = _accounts(xml, records)
    now, sha256 = datetime.now(UTC), ref.sha256
    file_entry = AuditRecord(
        key=f"{ref.message_id}/SENT", kind=AuditKind.MONEY, action="payment file sent to the bank", actor=FINSYNC,
        verified_by=PAYMENT_RUN, occurred_at=now,
        after={"message_id": ref.message_id, "sha256": sha256, "payments": ref.payments, "total": ref.total,
               "currency": ",".join(sorted({r.currency for r in records})), "bank_already_had_it": duplicate,
               "debtor_account": ",".join(sorted(filter(None, map(mask_iban, debtors.values()))))})
    return [file_entry] + [AuditRecord(
        key=f"{r.end_to_end_id}/SENT", invoice_key=r.invoice_key, kind=AuditKind.MONEY,
        action="payment sent to the bank", actor=FINSYNC, verified_by=PAYMENT_RUN, occurred_at=now,
        after={**_money(r), "sha256": sha256, "debtor_account": mask_iban(debtors.get(r.payment_info_id)),
               "creditor_account": mask_iban(creditors.get(r.end_to_end_id))}) for r in records]


def _accounts(content: bytes, records: list[PaymentRecord]) -> tuple[dict[str, str], dict[str, str]]:
    """(PmtInfId -> debtor account, EndToEndId -> creditor account) of a pain.001 or a NACHA file."""
    if not nacha.is_nacha_file(content.decode("ascii", "replace")[:3]):
        return payment_accounts(content)
    debtor, by_entry = nacha.payment_accounts(content)
    return ({r.payment_info_id: debtor for r in records},
            {r.end_to_end_id: by_entry.get(individual_id(r.end_to_end_id), "") for r in records})


def payment_file_refused(message_id: str, records: list[PaymentRecord], reason_code: str | None,
                         reason: str) -> list[AuditRecord]:
    """The bank refused the whole file at the door: none of its payments will be made."""
    now = datetime.now(UTC)
    return [AuditRecord(
        key=f"{r.end_to_end_id}/REFUSED", invoice_key=r.invoice_key, kind=AuditKind.MONEY,
        action="payment file refused by the bank", actor=BANK, verified_by=PAYMENT_RUN, occurred_at=now,
        after={**_money(r), "reason_code": reason_code, "reason": reason}) for r in records
        if r.message_id == message_id]


def bank_answers(bank_message_id: str, received_at: datetime | None, deliveries: list[Delivery],
                 records: dict[str, PaymentRecord]) -> list[AuditRecord]:
    """Per payment the bank answered about (matched by EndToEndId and MsgId before this):
    accepted, rejected with its reason, settled with the booked amount and date, returned."""
    entries = []
    for delivery in deliveries:
        report = delivery.report
        record = records.get(report.end_to_end_id or "")
        if record is None:
            continue  # matched a moment ago; a register row is never deleted
        after = {**_money(record), "status": report.status.value, "bank_message_id": bank_message_id,
                 "bank_document_id": report.message_id}
        if report.amount is not None:
            after["amount"] = report.amount  # what the bank booked or returned, which may differ
        after.update({k: v for k, v in (("reason_code", report.reason_code), ("reason", report.reason_text),
                                        ("booking_date", report.booking_date)) if v is not None})
        entries.append(AuditRecord(
            key=f"{record.end_to_end_id}/{report.status.value}", invoice_key=record.invoice_key, kind=AuditKind.MONEY,
            action=_ACTIONS[report.status], actor=BANK, verified_by=BANK_INBOX,
            occurred_at=received_at or datetime.now(UTC), after=after))
    return entries


def statement_label(statement_key: str) -> str:
    """`<our account id>:<number>` as it is (statement keys name our account by its id); a key
    from before, `<IBAN>:<number>`, with the IBAN masked."""
    account, _, number = statement_key.rpartition(":")
    return statement_key if len(account) < 15 else f"{mask_iban(account)}:{number}"


def statement_posted(statement_key: str, bank_message_id: str, erp_reference: str) -> AuditRecord:
    # Keyed by a digest of the statement key: a masked IBAN could be two accounts of ours.
    digest = hashlib.sha256(statement_key.encode()).hexdigest()[:20]
    return AuditRecord(
        key=f"statement-{digest}/POSTED", kind=AuditKind.MONEY, action="bank statement posted to the ERP",
        actor=FINSYNC, verified_by=STATEMENT_POST, occurred_at=datetime.now(UTC),
        after={"statement": statement_label(statement_key), "bank_message_id": bank_message_id,
               "erp_reference": erp_reference})


def erp_clearings(statement_key: str, items: list[tuple[StatementEntry, PaymentRecord, ItemClearing]]
                  ) -> list[AuditRecord]:
    """Each of our payments on the statement whose item the ERP shows cleared (or, for a
    return, reopened), with SAP's clearing document."""
    now, entries = datetime.now(UTC), []
    for entry, record, item in items:
        state = "REOPENED" if entry.is_return else "CLEARED"
        entries.append(AuditRecord(
            key=f"{record.end_to_end_id}/{state}", invoice_key=record.invoice_key, kind=AuditKind.MONEY,
            action=f"{state.lower()} in the ERP", actor=ERP, verified_by=STATEMENT_POST, occurred_at=now,
            after={**_money(record), "statement": statement_label(statement_key), "company_code": item.company_code,
                   "accounting_document": item.accounting_document, "fiscal_year": item.fiscal_year,
                   "clearing_document": item.clearing_document or None, "clearing_date": item.clearing_date}))
    return entries
