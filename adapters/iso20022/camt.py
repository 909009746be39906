"""camt.052 (intraday report), camt.053 (statement) and camt.054 (booking notification) into
canonical BankStatements; and the balance check a statement must pass before it is posted."""

from decimal import Decimal

from adapters.iso20022.xml import Node, UnreadableBankMessage, parse, readable, signed
from canonical.bank import BankStatement, MessageKind, StatementEntry
from canonical.money import format_amount, minor_units

# Message element -> (kind, the per-account report inside it).
_LAYOUT = {
    "BkToCstmrStmt": (MessageKind.STATEMENT, "Stmt"),
    "BkToCstmrDbtCdtNtfctn": (MessageKind.NOTIFICATION, "Ntfctn"),
    "BkToCstmrAcctRpt": (MessageKind.INTRADAY_REPORT, "Rpt"),
}
OPENING = ("OPBD", "PRCD")  # PRCD (previous closing) is how some banks state the opening
CLOSING = ("CLBD", "ITBD")  # ITBD: a camt.052 is "closing so far", booked up to its time
RETURN_SUBFAMILIES = {"RRTN"}  # PMNT/ICDT/RRTN: a credit transfer coming back


@readable
def read_camt_all(body: str | bytes) -> list[BankStatement]:
    """Every account report in a camt.052/053/054, in document order. The mock writes one
    per document; real banks may batch several accounts into one."""
    message, name = parse(body, "camt.05")
    localname = str(message.el.tag).rsplit("}", 1)[-1]
    if localname not in _LAYOUT:
        raise UnreadableBankMessage(f"{name}: {localname} is not a statement, report or notification")
    kind, report_tag = _LAYOUT[localname]
    message_id = message.required("GrpHdr/MsgId", f"{name} message id")
    reports = message.findall(report_tag)
    if not reports:
        raise UnreadableBankMessage(f"{name} {message_id} holds no {report_tag}")
    return [_statement(report, kind, message_id) for report in reports]


def read_camt(body: str | bytes) -> BankStatement:
    """The one account report of a camt.052/053/054. A document with several is refused
    (UnreadableBankMessage) rather than cut short: use read_camt_all for those."""
    statements = read_camt_all(body)
    if len(statements) != 1:
        raise UnreadableBankMessage(
            f"{statements[0].message_id} holds {len(statements)} account reports; use read_camt_all"
        )
    return statements[0]


def _statement(report: Node, kind: MessageKind, message_id: str) -> BankStatement:
    iban = report.text("Acct/Id/IBAN") or report.text("Acct/Id/Othr/Id")
    if iban is None:
        raise UnreadableBankMessage(f"{message_id}: the account (Acct/Id) is missing")
    balances = {b.text("Tp/CdOrPrtry/Cd"): b for b in report.findall("Bal")}
    # Acct/Ccy is optional in the schema; the amounts always carry theirs.
    amounts = (node.amount("Amt") for node in [*balances.values(), *report.findall("Ntry")])
    currency = report.text("Acct/Ccy") or next((a[1] for a in amounts if a and a[1]), None)
    if currency is None:
        raise UnreadableBankMessage(f"{message_id}: no currency for account {iban}")

    def balance(codes: tuple[str, ...]) -> Decimal | None:
        for code in codes:
            if code in balances:
                return signed(balances[code].amount("Amt"), balances[code].text("CdtDbtInd"))
        return None

    entries = [entry for ntry in report.findall("Ntry") for entry in _entries(ntry, currency)]
    closing = next((balances[c] for c in CLOSING if c in balances), None)
    return BankStatement(
        message_id=message_id,
        kind=kind,
        account_iban=iban,
        statement_id=report.id("Id"),
        sequence_number=report.text("ElctrncSeqNb") or report.text("LglSeqNb"),
        # The day covered: the closing balance's date, else the period's start, else creation.
        statement_date=(closing.day("Dt") if closing else None) or report.day("FrToDt/FrDtTm") or report.day("CreDtTm"),
        currency=currency,
        opening_balance=balance(OPENING),
        closing_balance=balance(CLOSING),
        entries=entries,
    )


def _entries(ntry: Node, account_currency: str) -> list[StatementEntry]:
    """One canonical entry per transaction. A batch-booked Ntry (one booking, several
    TxDtls with their own amounts) is split so each payment can be matched on its own."""
    status = ntry.text("Sts/Cd") or ntry.text("Sts")
    if status not in (None, "BOOK"):
        return []  # PDNG/INFO/FUTR: not a booking, so not part of any balance
    amount = ntry.amount("Amt")
    if amount is None:
        raise UnreadableBankMessage(f"entry {ntry.text('AcctSvcrRef') or ntry.text('NtryRef')} has no amount")
    direction = ntry.text("CdtDbtInd")
    if direction not in ("DBIT", "CRDT"):
        raise UnreadableBankMessage(f"entry {ntry.text('AcctSvcrRef')} has CdtDbtInd {direction!r}")
    details = ntry.findall("NtryDtls/TxDtls")
    itemised = [a for d in details if (a := d.amount("Amt")) is not None]
    split = len(details) > 1 and len(itemised) == len(details) and sum(a[0] for a in itemised) == amount[0]
    common = {
        "entry_reference": ntry.text("AcctSvcrRef") or ntry.text("NtryRef"),
        "direction": direction,
        "booking_date": ntry.day("BookgDt"),
        "value_date": ntry.day("ValDt"),
    }
    subfamily = ntry.text("BkTxCd/Domn/Fmly/SubFmlyCd")
    if not split:
        # One transaction, or a batch the bank did not itemise: the Ntry amount, and the
        # references only when there is exactly one transaction to take them from.
        if len(details) == 1:
            refs = _references(details[0], subfamily)
        else:
            refs = {"is_return": subfamily in RETURN_SUBFAMILIES}
        return [StatementEntry(amount=amount[0], currency=amount[1] or account_currency, **common, **refs)]
    return [
        StatementEntry(amount=a[0], currency=a[1] or amount[1] or account_currency,
                       **{**common, "entry_reference": d.text("Refs/AcctSvcrRef") or common["entry_reference"]},
                       **_references(d, subfamily))
        for d, a in zip(details, itemised, strict=True)
    ]


def _references(tx: Node, subfamily: str | None) -> dict:
    return_reason = tx.text("RtrInf/Rsn/Cd") or tx.text("RtrInf/Rsn/Prtry")
    return {
        "end_to_end_id": tx.id("Refs/EndToEndId"),
        "original_message_id": tx.id("Refs/MsgId"),
        "payment_info_id": tx.id("Refs/PmtInfId"),
        "is_return": tx.find("RtrInf") is not None or subfamily in RETURN_SUBFAMILIES,
        "return_reason_code": return_reason,
        # Structured reference first (what an ERP clears on), then the first free-text line.
        "remittance_reference": tx.text("RmtInf/Strd/CdtrRefInf/Ref")
        or tx.text("RmtInf/Strd/RfrdDocInf/Nb")
        or tx.text("RmtInf/Ustrd"),
    }


def statement_balances(stmt: BankStatement) -> list[str]:
    """Problems with a statement's arithmetic: opening + credits - debits must equal
    closing (a bank that leaves an entry off still moves the balance: statement-gap).
    Empty list: it adds up, or there is no pair of balances to check (a camt.054)."""
    problems = [
        f"entry {e.entry_reference or e.end_to_end_id} is in {e.currency}, the account in {stmt.currency}"
        for e in stmt.entries
        if e.currency != stmt.currency
    ]
    if stmt.opening_balance is None or stmt.closing_balance is None:
        return problems
    zero = Decimal(0).scaleb(-minor_units(stmt.currency))  # so an empty side prints as 0.00
    credits = sum((e.amount for e in stmt.entries if e.direction == "CRDT"), zero)
    debits = sum((e.amount for e in stmt.entries if e.direction == "DBIT"), zero)
    expected = stmt.opening_balance + credits - debits
    if expected != stmt.closing_balance:
        gap = stmt.closing_balance - expected
        problems.append(
            f"{stmt.message_id}: opening {format_amount(stmt.opening_balance)} + credits {format_amount(credits)}"
            f" - debits {format_amount(debits)} = {format_amount(expected)}, but closing is"
            f" {format_amount(stmt.closing_balance)} ({format_amount(gap)} {stmt.currency} not accounted for"
            f" by the {len(stmt.entries)} entries)"
        )
    return problems
