"""A NACHA file (CCD credits, one batch) from a canonical PaymentFile whose debtor pays in NACHA.

Fixed once built (architecture invariant 3): the bytes are a pure function of the PaymentFile
and the file id modifier the run gave it, so a retry sends the same bytes. Each payment gets
what the bank carries back for it in every answer (acknowledgement, camt.054, return file,
BAI2): the individual identification number, a 15-character digest of our EndToEndId, and a
trace number. Our EndToEndId is up to 35 characters and does not fit; the bank reference
register (adapters/bank_references.py) maps both back.

The bank knows the originator by the batch's company identification, which is our account
number at the bank (PayingAccount.account_number); the file names the bank by its ABA routing
number (PayingAccount.routing_number, the ODFI)."""

import base64
import hashlib
from decimal import Decimal
from typing import NamedTuple

from adapters.iso20022.pain001 import PaymentFileInvalid, sepa_text
from adapters.nacha import records as r
from canonical.aba import account_number_problem, routing_problem
from canonical.bank import PaymentFile
from canonical.money import check_scale

# A file id modifier per file of the account and creation date: 36 files a day.
MODIFIERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
CHECKING_CREDIT = "22"
CREDITS_ONLY = "220"
CORPORATE_CREDIT = "CCD"  # corporate credit or debit: one business paying another
MAX_AMOUNT_CENTS = 10 ** 10 - 1  # the entry's amount field: 10 digits of cents
PER_MODIFIER = 100_000  # trace sequence numbers per file: a file holds at most 1000 payments


class NachaEntry(NamedTuple):
    """What the bank carries back for one payment, and which payment that is."""

    end_to_end_id: str
    individual_id: str
    trace_number: str


class NachaFile(NamedTuple):
    content: bytes
    bank_file_name: str
    entries: list[NachaEntry]


def individual_id(end_to_end_id: str) -> str:
    """15 characters of base32 (A-Z, 2-7) from the EndToEndId: unique per payment attempt, and
    never an EndToEndId of ours, which always has a '/' (canonical.payment.end_to_end_id)."""
    digest = base64.b32encode(hashlib.sha256(end_to_end_id.encode()).digest()).decode()
    return digest[:15]


def is_individual_id(value: str | None) -> bool:
    return value is not None and len(value) == 15 and all(c.isupper() or c in "234567" for c in value)


def build_nacha(file: PaymentFile, modifier: str) -> NachaFile:
    """The NACHA bytes for `file`, with the file id modifier `modifier` (one of MODIFIERS, not
    used by another file of the account on the file's creation date). Raises PaymentFileInvalid
    listing every finding, as the pain.001 builder does."""
    debtor = file.debtor
    findings = _findings(file, modifier)
    if findings:
        raise PaymentFileInvalid(findings)
    assert debtor.routing_number is not None and debtor.account_number is not None  # PayingAccount checks
    odfi, company = debtor.routing_number[:8], debtor.account_number
    created_date, created_time = file.created_at.strftime("%y%m%d"), file.created_at.strftime("%H%M")
    origin = company.rjust(10)
    lines = [r.line(r.FILE_HEADER, record_type=1, priority_code=1, immediate_destination=" " + debtor.routing_number,
                    immediate_origin=origin, creation_date=created_date, creation_time=created_time,
                    file_id_modifier=modifier, record_size=r.LINE, blocking_factor=r.BLOCK, format_code=1,
                    origin_name=_text(debtor.name, 23))]
    batch = {"service_class": CREDITS_ONLY, "company_identification": company, "odfi": odfi,
             "batch_number": _batch_number(file)}
    lines.append(r.line(r.BATCH_HEADER, record_type=5, company_name=_text(debtor.name, 16),
                        entry_class=CORPORATE_CREDIT, entry_description="PAYABLES",
                        effective_date=file.execution_date.strftime("%y%m%d"), originator_status="1", **batch))
    entries, entry_hash, total = [], 0, 0
    for position, payment in enumerate(file.payments, start=1):
        assert payment.creditor_routing_number and payment.creditor_account_number  # checked in _findings
        cents = _cents(payment.amount, payment.currency)
        trace = f"{odfi}{MODIFIERS.index(modifier) * PER_MODIFIER + position:07d}"
        entry = NachaEntry(payment.end_to_end_id, individual_id(payment.end_to_end_id), trace)
        lines.append(r.line(r.ENTRY, record_type=6, transaction_code=CHECKING_CREDIT,
                            rdfi=payment.creditor_routing_number[:8], check_digit=payment.creditor_routing_number[8],
                            account_number=payment.creditor_account_number.strip(), amount=cents,
                            individual_id=entry.individual_id, individual_name=_text(payment.creditor_name, 22),
                            addenda_indicator=1, trace_number=trace))
        # The remittance reference travels to the payee in the addenda (CCD allows one).
        lines.append(r.line(r.ADDENDA, record_type=7, addenda_type=5,
                            payment_information=_text(payment.remittance_reference, 80), addenda_sequence=1,
                            entry_sequence=trace[-7:]))
        entries.append(entry)
        entry_hash += int(payment.creditor_routing_number[:8])
        total += cents
    count, entry_hash = 2 * len(entries), entry_hash % 10 ** 10
    lines.append(r.line(r.BATCH_CONTROL, record_type=8, entry_count=count, entry_hash=entry_hash, total_debits=0,
                        total_credits=total, **{k: v for k, v in batch.items() if k != "company_name"}))
    blocks = -(-(len(lines) + 1) // r.BLOCK)
    lines.append(r.line(r.FILE_CONTROL, record_type=9, batch_count=1, block_count=blocks, entry_count=count,
                        entry_hash=entry_hash, total_debits=0, total_credits=total))
    lines += [r.PADDING] * (-len(lines) % r.BLOCK)
    content = ("\n".join(lines) + "\n").encode("ascii")
    return NachaFile(content, r.bank_file_name(origin, created_date, created_time, modifier), entries)


def _batch_number(file: PaymentFile) -> int:
    # The file's number in its run (message ids are FS-<run key>-<nn>): batches differ per run file.
    tail = file.message_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


def _findings(file: PaymentFile, modifier: str) -> list[str]:
    findings = []
    if file.debtor.bank_format != "nacha":
        findings.append(f"paying account {file.debtor.account_id} does not pay in NACHA files")
    if modifier not in MODIFIERS or len(modifier) != 1:
        findings.append(f"file id modifier {modifier!r} is not one of A-Z, 0-9")
    if len(file.payments) >= PER_MODIFIER:
        findings.append(f"a NACHA file holds fewer than {PER_MODIFIER} payments")
    total = 0
    for p in file.payments:
        what = f"payment {p.end_to_end_id}"
        if p.currency != "USD":
            findings.append(f"{what} is in {p.currency}; NACHA carries USD only")
            continue
        for problem in (routing_problem(p.creditor_routing_number), account_number_problem(p.creditor_account_number)):
            if problem:
                findings.append(f"{what}: {problem} of the payee")
        try:
            cents = _cents(p.amount, p.currency)
        except ValueError as exc:
            findings.append(str(exc))
            continue
        if not 0 < cents <= MAX_AMOUNT_CENTS:
            findings.append(f"{what} amount must be positive and below 100,000,000.00 USD")
        total += cents
        if not _text(p.creditor_name, 22):
            findings.append(f"{what} has no payee name NACHA can carry")
        if not _text(p.remittance_reference, 80) or len(p.remittance_reference.strip()) > 80:
            findings.append(f"{what} remittance reference must have 1 to 80 characters")
    if total >= 10 ** 12:
        findings.append("the file's credits exceed the 12 digits of its control total")
    return findings


def _cents(amount: Decimal, currency: str) -> int:
    return int(check_scale(amount, currency, "amount").scaleb(2))


def _text(value: str, width: int) -> str:
    """ASCII a NACHA record can carry: accents dropped, letters spelled out (the SEPA set is a
    subset of NACHA's), upper case as ACH names are written; cut to the field's width."""
    return sepa_text(value, width).upper()
