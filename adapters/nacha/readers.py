"""What the bank sends a NACHA account, into the canonical models the inbox already acts on:

* the acknowledgement of a file, where an ISO 20022 account gets a pain.002: one line per fact,
  `FILE <the bank's file name>`, `STATUS ACCP|PART|RJCT [<reason> <text>]`, and per entry
  `ENTRY <trace> <individual id> <amount> ACCEPTED <date>` or `... REJECTED <code> <text>`
  (a NACHA return code where the bank answers with one: R01, R02, R03) -> PaymentStatusReport;
* the return file (a NACHA file of return entries, each with an addenda 99 naming the R code and
  the original trace number), where an ISO 20022 account gets a pacs.004 -> PaymentReturns.

Both name payments by what the file carried (the individual identification number and the
trace number), never by our EndToEndId: adapters/bank_references.py maps them back."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from adapters.iso20022.xml import UnreadableBankMessage, readable
from adapters.nacha import records as r
from canonical.bank import PaymentReturn, PaymentStatusReport, TransactionStatus

ACKNOWLEDGEMENT = "ACKNOWLEDGEMENT"
_ENTRY_STATUS = {"ACCEPTED": "ACCP", "REJECTED": "RJCT"}
# Automated returns of credit entries: checking, savings, general ledger, loan.
RETURN_CODES = {"21", "31", "41", "51", "26", "36", "46", "56"}


def is_acknowledgement(text: str) -> bool:
    return text.lstrip().startswith(ACKNOWLEDGEMENT + " ")


def is_nacha_file(text: str) -> bool:
    return text.lstrip().startswith("101")


@readable
def read_acknowledgement(body: str | bytes) -> PaymentStatusReport:
    text = body.decode("ascii", "replace") if isinstance(body, bytes) else body
    facts: dict[str, str] = {}
    transactions = []
    for raw in text.splitlines():
        head, _, rest = raw.strip().partition(" ")
        if head == "ENTRY":
            transactions.append(_entry(rest, facts.get(ACKNOWLEDGEMENT, "?")))
        elif head:
            facts.setdefault(head, rest.strip())
    message_id, original = facts.get(ACKNOWLEDGEMENT), facts.get("FILE")
    if not message_id or not original or "STATUS" not in facts:
        raise UnreadableBankMessage("a NACHA acknowledgement names itself, the file and its status "
                                    "(ACKNOWLEDGEMENT, FILE, STATUS lines); this one does not")
    status, _, reason = facts["STATUS"].partition(" ")
    return PaymentStatusReport(message_id=message_id, original_message_id=original, group_status=status,
                               group_reason_code=reason.split(" ", 1)[0] or None, transactions=transactions)


def _entry(rest: str, message_id: str) -> TransactionStatus:
    parts = rest.split(" ", 4)
    if len(parts) < 4 or parts[3] not in _ENTRY_STATUS:
        raise UnreadableBankMessage(f"acknowledgement {message_id}: entry line {rest[:60]!r} is not "
                                    "'<trace> <individual id> <amount> ACCEPTED|REJECTED ...'")
    _trace, individual, _amount, outcome = parts[:4]
    tail = parts[4] if len(parts) > 4 else ""
    if outcome == "ACCEPTED":
        return TransactionStatus(end_to_end_id=individual, status="ACCP")
    code, _, words = tail.partition(" ")
    return TransactionStatus(end_to_end_id=individual, status="RJCT", reason_code=code or None,
                             reason_text=words.strip() or None)


@readable
def read_return_file(body: str | bytes) -> list[PaymentReturn]:
    """Every returned payment in a return file, each with its R code. A return file carries no
    id of the file it returns from; the individual identification number names the payment."""
    text = body.decode("ascii", "replace") if isinstance(body, bytes) else body
    lines = r.records(text)
    if not lines or any(len(line) != r.LINE for line in lines) or lines[0][:1] != "1":
        raise UnreadableBankMessage("a NACHA return file is records of 94 characters, a file header first")
    header = r.fields(r.FILE_HEADER, lines[0])
    message_id = r.bank_file_name(header["immediate origin"], header["creation date"], header["creation time"],
                                  header["file id modifier"])
    returns: list[PaymentReturn] = []
    effective: date | None = None
    for number, line in enumerate(lines):
        if line[:1] == "5":
            effective = _day(r.fields(r.BATCH_HEADER, line)["effective date"])
        if line[:1] != "6":
            continue
        entry = r.fields(r.ENTRY, line)
        if entry["transaction code"] not in RETURN_CODES:
            continue  # a return file carries returns; anything else is not ours to read
        follower = lines[number + 1] if number + 1 < len(lines) else ""
        if follower[:3] != "799":
            raise UnreadableBankMessage(f"return file {message_id}: return entry {entry['trace number']} has "
                                        "no addenda 99 saying why")
        why = r.fields(r.RETURN_ADDENDA, follower)
        returns.append(PaymentReturn(
            message_id=message_id, original_message_id=None, end_to_end_id=entry["individual id"] or "NOTPROVIDED",
            return_id=entry["trace number"], amount=_dollars(entry["amount"], message_id), currency="USD",
            reason_code=why["return reason"] or None, settlement_date=effective))
    if not returns:
        raise UnreadableBankMessage(f"return file {message_id} returns no payment")
    return returns


def _dollars(cents: str, message_id: str) -> Decimal:
    try:
        return Decimal(int(cents)).scaleb(-2)
    except (ValueError, InvalidOperation):
        raise UnreadableBankMessage(f"return file {message_id}: amount {cents!r} is not cents") from None


def _day(yymmdd: str) -> date | None:
    try:
        return datetime.strptime(yymmdd, "%y%m%d").date()
    except ValueError:
        return None


def payment_accounts(content: bytes) -> tuple[str, dict[str, str]]:
    """(the debtor account, individual id -> creditor account) of a NACHA file finsync built, each
    as "US" + routing + account number: what the audit trail masks (canonical.audit.mask_iban)."""
    lines = r.records(content.decode("ascii", "replace"))
    header = r.fields(r.FILE_HEADER, lines[0]) if lines else {}
    batch = next((r.fields(r.BATCH_HEADER, line) for line in lines if line[:1] == "5"), {})
    debtor = f"US{header.get('immediate destination', '')}{batch.get('company identification', '')}"
    creditors = {}
    for line in lines:
        if line[:1] == "6":
            entry = r.fields(r.ENTRY, line)
            creditors[entry["individual id"]] = f"US{entry['rdfi']}{entry['check digit']}{entry['account number']}"
    return debtor, creditors
