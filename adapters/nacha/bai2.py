"""BAI2: the end-of-day statement a NACHA account gets where an ISO 20022 account gets a
camt.053, into the same canonical BankStatement (kind STATEMENT).

Comma-separated records ending in '/', a continuation (88) carrying on the record before it:
01 file header, 02 group header (as-of date, currency), 03 account (its number, then summary
groups of type code, amount, item count and funds type: 010 opening and 015 closing ledger),
16 transaction details, 49/98/99 trailers. Amounts are minor units; a detail's direction is
its type code's range (100-399 a credit, 400-699 a debit). A detail carries the bank reference
(what our NACHA entry was called: its individual identification number) and the customer
reference (the bank's name for our file); 257 is an ACH return item coming back."""

from datetime import date, datetime
from decimal import Decimal

from adapters.iso20022.xml import UnreadableBankMessage, readable
from canonical.bank import BankStatement, MessageKind, StatementEntry
from canonical.money import minor_units

OPENING_LEDGER, CLOSING_LEDGER = "010", "015"
RETURN_ITEMS = {"257"}  # Individual ACH Return Item: a payment of ours coming back
# How many fields a funds type occupies, itself included (D is counted from its own count).
_FUNDS_WIDTH = {"V": 3, "S": 4}


def is_bai2(text: str) -> bool:
    return text.lstrip().startswith("01,")


@readable
def read_bai2(body: str | bytes) -> list[BankStatement]:
    """One statement per account (03) in the file."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    statements: list[BankStatement] = []
    file_id, sender, as_of, currency = "", "", None, None
    current: dict | None = None
    for code, values in _records(text):
        if code == "01":
            file_id = values[4] if len(values) > 4 else ""
            sender = values[0] if values else ""
        elif code == "02":
            as_of, currency = _day(values[3] if len(values) > 3 else ""), (values[5] if len(values) > 5 else None)
        elif code == "03":
            current = _account(values, currency, file_id, sender, as_of)
        elif code == "16" and current is not None:
            current["entries"].append(_detail(values, current["currency"], as_of))
        elif code == "49" and current is not None:
            statements.append(BankStatement(**current))
            current = None
    if not statements:
        raise UnreadableBankMessage("a BAI2 statement has an account (03) closed by its trailer (49); this has none")
    return statements


def _records(text: str) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        line = line[:-1] if line.endswith("/") else line
        code, _, rest = line.partition(",")
        if code == "88" and out:  # a continuation carries on the record before it
            out[-1] = (out[-1][0], out[-1][1] + rest.split(","))
            continue
        # A detail's last field is free text and may hold commas: split the fixed part only.
        out.append((code, rest.split(",", 5) if code == "16" else rest.split(",")))
    return out


def _account(values: list[str], currency: str | None, file_id: str, sender: str, as_of: date | None) -> dict:
    if not values or not values[0]:
        raise UnreadableBankMessage(f"BAI2 file {file_id}: an account record (03) names no account")
    account, currency = values[0], (values[1] if len(values) > 1 and values[1] else currency)
    if not currency:
        raise UnreadableBankMessage(f"BAI2 file {file_id}: no currency for account {account[-4:]}")
    balances: dict[str, Decimal] = {}
    rest, index = values[2:], 0
    while index + 1 < len(rest):
        type_code, amount = rest[index], rest[index + 1]
        if type_code and amount:
            balances[type_code] = _amount(amount, currency, file_id)
        funds = rest[index + 3] if index + 3 < len(rest) else ""
        index += 3 + _funds_width(funds, rest[index + 4:])
    return {"message_id": f"BAI2-{sender}-{account}-{file_id}", "kind": MessageKind.STATEMENT,
            "account_iban": account, "statement_id": f"{account}-{file_id}", "sequence_number": file_id or None,
            "statement_date": as_of, "currency": currency, "opening_balance": balances.get(OPENING_LEDGER),
            "closing_balance": balances.get(CLOSING_LEDGER), "entries": []}


def _detail(values: list[str], currency: str, as_of: date | None) -> StatementEntry:
    type_code, amount = values[0], values[1]
    funds = values[2] if len(values) > 2 else ""
    width = _funds_width(funds, values[3:])
    # The fixed part was split at five commas; a wide funds type pushes the references right.
    tail = ",".join(values[2:]).split(",")[width:]
    bank_reference = tail[0].strip() if tail else ""
    customer_reference = tail[1].strip() if len(tail) > 1 else ""
    numeric = int(type_code) if type_code.isdigit() else 0
    return StatementEntry(
        entry_reference=f"{bank_reference}@{customer_reference}" if bank_reference else None,
        amount=_amount(amount, currency, "detail"), currency=currency,
        direction="CRDT" if 100 <= numeric < 400 else "DBIT", booking_date=as_of, value_date=as_of,
        end_to_end_id=bank_reference or None, original_message_id=customer_reference or None,
        is_return=type_code in RETURN_ITEMS)


def _funds_width(funds: str, rest: list[str]) -> int:
    if funds == "D":
        count = rest[0] if rest else ""
        return 2 + 2 * int(count) if count.isdigit() else 1
    return _FUNDS_WIDTH.get(funds, 1)


def _amount(value: str, currency: str, where: str) -> Decimal:
    text = value.strip().lstrip("+")
    if not text.lstrip("-").isdigit():
        raise UnreadableBankMessage(f"BAI2 {where}: amount {value!r} is not minor units")
    return Decimal(int(text)).scaleb(-minor_units(currency))


def _day(yymmdd: str) -> date | None:
    try:
        return datetime.strptime(yymmdd, "%y%m%d").date()
    except ValueError:
        return None
