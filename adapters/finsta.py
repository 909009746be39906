"""FINSTA01: a bank statement (camt.053) as SAP's inbound statement IDoc, which is the only
way SAP clears a payable (guides/mock-sap.md §7).

What goes on a line decides what SAP clears, so only entries finsync can attribute are sent:
  * a debit with a remittance reference: our payment of the invoice with that reference;
  * a credit marked as a return, with the reference: our payment coming back (LINACTION RET),
    which reopens the invoice.
Everything else (money received, a debit that is a return, an entry without a reference)
is left out and reported: SAP would clear nothing with it, or worse, guess.

Matching in SAP is exact: E1EDP02 QUALF 009 BELNR must equal the invoice's
SupplierInvoiceIDByInvcgParty character for character (finsync posts that as
normalise_reference(ref)), and the amount and currency must equal the open item's.
Direction is the sign only, SAP style with a trailing minus: "1190.00-" is money out.
"""

from collections.abc import Sequence
from decimal import Decimal

from lxml import etree
from pydantic import BaseModel

from adapters.erp_errors import ErpStatementNotPostable
from canonical.bank import BankStatement, MessageKind, StatementEntry
from canonical.bank import attribution_problem as canonical_attribution_problem
from canonical.money import check_scale, format_amount

MAX_BELNR = 35  # E1EDP02-BELNR
MAX_BGMREF = 35  # E1IDKU1-BGMREF

# SAP's own MOAQUAL values (domain EDIF5025), not the UN/EDIFACT list.
OPENING, CLOSING, TOTAL_DEBITS, TOTAL_CREDITS, LINE_AMOUNT = "019", "021", "023", "024", "001"
RETURNED = "RET"  # mock-sap's LINACTION for "a payment of ours coming back"


class StatementNotPostable(ErpStatementNotPostable):
    """The statement itself cannot become a FINSTA01 (wrong kind, broken balance figures).
    Retrying will not help: a person has to look at the bank message."""


class LeftOut(BaseModel):
    entry: StatementEntry
    reason: str


class FinstaLine(BaseModel):
    line: str  # LINLINEIT: SAP answers per line number, this ties it back to the entry
    entry: StatementEntry
    reference: str
    is_return: bool


class FinstaIdoc(BaseModel):
    statement_number: str
    account: str
    xml: bytes
    lines: list[FinstaLine]
    left_out: list[LeftOut]


def statement_number(statement: BankStatement) -> str:
    """BGMREF, and the key (with the account) of finsync's register of posted statements:
    the bank's statement sequence number (LglSeqNb/ElctrncSeqNb), else the statement id,
    else the message id. SAP does not de-duplicate on it; the register must."""
    number = statement.sequence_number or statement.statement_id or statement.message_id
    if number.isdigit() and len(number) < 5:
        number = number.zfill(5)  # SAP's statement number AZNUM is NUMC 5: 7 -> 00007
    return number[:MAX_BGMREF]


def attribution_problem(entry: StatementEntry) -> str | None:
    """Why this entry cannot go on a FINSTA01 line, or None if it can."""
    problem = canonical_attribution_problem(entry)
    if problem is not None:
        return problem
    reference = (entry.remittance_reference or "").strip()
    if len(reference) > MAX_BELNR:
        return f"the reference {reference!r} is longer than {MAX_BELNR} characters and names no SAP invoice"
    return None


def sap_amount(amount: Decimal, currency: str) -> str:
    """MOABETR: the currency's decimals, and a trailing minus when negative."""
    value = check_scale(amount, currency, "amount")
    text = format_amount(abs(value))
    return f"{text}-" if value < 0 else text


def _segment(parent: etree._Element, tag: str, **fields: str) -> etree._Element:
    element = etree.SubElement(parent, tag, SEGMENT="1")
    for name, value in fields.items():
        etree.SubElement(element, name).text = value
    return element


def build_finsta01(
    statement: BankStatement,
    *,
    bank_key: str | None = None,
    entries: Sequence[StatementEntry] | None = None,
) -> FinstaIdoc:
    """The FINSTA01 XML for `statement`. `entries` narrows which entries may go on lines
    (default: all); the balance figures always describe the whole statement, because they
    are the bank's account balances, not a sum of the lines SAP is shown."""
    if statement.kind != MessageKind.STATEMENT:
        raise StatementNotPostable(
            f"message {statement.message_id} is a {statement.kind}, not an end-of-day statement (camt.053)"
        )
    currency = statement.currency
    number = statement_number(statement)
    root = etree.Element("FINSTA01")
    idoc = etree.SubElement(root, "IDOC", BEGIN="1")
    _segment(idoc, "EDI_DC40", TABNAM="EDI_DC40", DIRECT="2", IDOCTYP="FINSTA01", MESTYP="FINSTA")
    header = _segment(idoc, "E1IDKU1", BGMREF=number)
    # The statement date becomes SAP's clearing date; without one SAP would use its own today.
    day = statement.statement_date or max((e.booking_date for e in statement.entries if e.booking_date), default=None)
    if day:
        _segment(header, "E1EDK03", IDDAT="026", DATUM=day.strftime("%Y%m%d"))
    account = statement.account_iban.replace(" ", "").upper()
    bank = {"FIIBKENN": bank_key.strip().upper()} if bank_key else {}
    _segment(header, "E1IDB02", **bank, FIIKONTO=account, FIIBLAND=account[:2], FIIKWAER=currency)

    lines: list[FinstaLine] = []
    left_out: list[LeftOut] = []
    for entry in statement.entries if entries is None else entries:
        problem = attribution_problem(entry)
        if problem is None:
            try:
                signed = -abs(entry.amount) if entry.direction == "DBIT" else abs(entry.amount)
                moabetr = sap_amount(signed, entry.currency)
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            left_out.append(LeftOut(entry=entry, reason=problem))
            continue
        line_no = f"{len(lines) + 1:06d}"
        reference = (entry.remittance_reference or "").strip()  # as attribution_problem read it
        fields = {"LINLINEIT": line_no} | ({"LINACTION": RETURNED} if entry.is_return else {})
        line = _segment(header, "E1IDPF1", **fields)
        # The only E1EDP02 on the line: SAP reads the first one as THE reference.
        _segment(line, "E1EDP02", QUALF="009", BELNR=reference)
        _segment(line, "E1IDPU5", MOAQUAL=LINE_AMOUNT, MOABETR=moabetr, CUXWAERZ=entry.currency)
        lines.append(FinstaLine(line=line_no, entry=entry, reference=reference, is_return=entry.is_return))

    if statement.opening_balance is not None or statement.closing_balance is not None:
        # Totals over every entry of the statement, attributable or not: SAP checks
        # opening + credits - debits = closing, which is a statement about the account.
        try:
            debits = sum((abs(e.amount) for e in statement.entries if e.direction == "DBIT"), Decimal(0))
            credits = sum((abs(e.amount) for e in statement.entries if e.direction == "CRDT"), Decimal(0))
            figures = [(OPENING, statement.opening_balance), (CLOSING, statement.closing_balance),
                       (TOTAL_DEBITS, debits), (TOTAL_CREDITS, credits)]
            balances = [(code, sap_amount(value, currency)) for code, value in figures if value is not None]
        except ValueError as exc:
            raise StatementNotPostable(f"statement {number}: {exc}") from None
        line = _segment(header, "E1IDPF1", LINLINEIT=f"{len(lines) + 1:06d}")
        for code, moabetr in balances:
            _segment(line, "E1IDPU5", MOAQUAL=code, MOABETR=moabetr, CUXWAERZ=currency)

    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return FinstaIdoc(statement_number=number, account=account, xml=xml, lines=lines, left_out=left_out)
