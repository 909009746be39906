"""Read-only fact gathering for the reconciliation, one function per side. The ERP is read
through its port (ErpPort.supplier_items; SAP's reads are adapters/sap_reconciliation.py), the
bank through the reports it sent (camt.054, camt.053, camt.052, recorded by the inbox), and the
treasury database through read-only queries on the registers' tables."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlmodel import Session, col, select

from adapters.bank_documents import UnreadableBankMessage, read_in_our_terms
from adapters.bank_references import BankReferenceRegister
from adapters.payment_registers import BankMessageRow, PaymentRow
from adapters.treasury_store import OutflowRow, TreasuryStore
from canonical.bank import BankStatement, MessageKind
from canonical.reconciliation import BankFinding, DriftKind, OutflowFact
from canonical.treasury import OutflowState


def expected_outflows(store: TreasuryStore, company_code: str) -> list[OutflowFact]:
    query = select(OutflowRow).where(OutflowRow.state == OutflowState.EXPECTED.value,
                                     OutflowRow.company_code == company_code)
    with Session(store.engine) as session:
        return [OutflowFact(invoice_key=r.invoice_key, amount=Decimal(r.amount), currency=r.currency,
                            value_date=r.value_date)
                for r in session.exec(query)]


def payment_register(engine) -> dict[str, PaymentRow]:
    """EndToEndId -> what finsync sent under it."""
    with Session(engine) as session:
        return {row.end_to_end_id: row for row in session.exec(select(PaymentRow))}


@dataclass(frozen=True)
class Booking:
    """One debit the bank booked on our account, as its own reports show it."""

    entry_reference: str  # the bank's reference (AcctSvcrRef): one per booking
    end_to_end_id: str
    message_id: str | None  # the payment file it came from, when the bank names it
    amount: Decimal
    currency: str


_BOOKING_REPORTS = (MessageKind.NOTIFICATION.value, MessageKind.STATEMENT.value, MessageKind.INTRADAY_REPORT.value)


def booked_payments(engine, account_id: str, since: date) -> list[Booking]:
    """Payments the bank booked from our account and did not return, from the camt.054, camt.053
    and camt.052 the inbox recorded since `since`: what a real bank reports, so no look into its
    books is needed. A booking shows in several reports; its AcctSvcrRef counts it once. A return
    (a credit marked as one, naming the EndToEndId) takes one booking of that payment back."""
    query = select(BankMessageRow).where(col(BankMessageRow.kind).in_(_BOOKING_REPORTS),
                                         BankMessageRow.account == account_id,
                                         BankMessageRow.recorded_at >= _start_of(since))
    with Session(engine) as session:
        rows = list(session.exec(query.order_by(col(BankMessageRow.recorded_at))))
    debits: dict[str, Booking] = {}
    returns: dict[str, Booking] = {}
    for row in rows:
        try:
            reports = read_in_our_terms(MessageKind(row.kind), row.body, _References(engine))
        except UnreadableBankMessage:
            continue  # the inbox recorded it as a problem already; message_problems reports it
        entries = (e for r in reports if isinstance(r, BankStatement) for e in r.entries if e.end_to_end_id)
        for entry in entries:
            reference = entry.entry_reference or f"{entry.end_to_end_id}@{entry.original_message_id}"
            booking = Booking(reference, entry.end_to_end_id or "", entry.original_message_id, entry.amount,
                              entry.currency)
            if entry.direction == "CRDT" and entry.is_return:
                returns[reference] = booking
            elif entry.direction == "DBIT" and not entry.is_return:
                debits[reference] = booking
    return _kept(list(debits.values()), list(returns.values()))


class _References(BankReferenceRegister):
    """A NACHA account's reports name payments by what the file carried: read in our ids."""

    def __init__(self, engine) -> None:
        self.engine = engine


def _kept(debits: list[Booking], returns: list[Booking]) -> list[Booking]:
    # A return gives back one debit of its EndToEndId: what stays is what was paid and kept.
    kept = list(debits)
    for back in returns:
        same = [b for b in kept if b.end_to_end_id == back.end_to_end_id]
        if same:
            kept.remove(same[-1])
    return kept


def paid_twice(bookings: list[Booking], register: dict[str, PaymentRow]) -> list[BankFinding]:
    """Two payments the bank booked and kept for one invoice: one EndToEndId in two files, or
    two attempts both paid (a new attempt is only right after a rejection or a return)."""
    by_invoice: dict[str, list[Booking]] = defaultdict(list)
    for booking in bookings:
        record = register.get(booking.end_to_end_id)
        if record is not None:
            by_invoice[record.invoice_key].append(booking)
    findings = []
    for key, paid in sorted(by_invoice.items()):
        if len(paid) < 2:
            continue
        first = register[paid[0].end_to_end_id]
        total = sum((b.amount for b in paid), Decimal(0))
        which = ", ".join(sorted(f"{b.end_to_end_id} in {b.message_id or '?'} (booking {b.entry_reference})"
                                 for b in paid))
        findings.append(BankFinding(kind=DriftKind.PAID_TWICE, key=key, amount=total - Decimal(first.amount),
                                    currency=first.currency,
                                    detail=f"the bank paid invoice {key} {len(paid)} times ({total} {first.currency} "
                                           f"for {first.amount}; the amount is what was paid too much): {which}"))
    return findings


def unmatched_statement_entries(engine, register: dict[str, PaymentRow], account_id: str,
                                since: date) -> list[BankFinding]:
    """Debits on our statements (camt.053) that no payment of finsync explains."""
    findings: dict[str, BankFinding] = {}
    query = select(BankMessageRow).where(BankMessageRow.kind == MessageKind.STATEMENT.value,
                                         BankMessageRow.account == account_id,
                                         BankMessageRow.recorded_at >= _start_of(since))
    with Session(engine) as session:
        rows = list(session.exec(query.order_by(col(BankMessageRow.recorded_at))))
    for row in rows:
        try:
            statements = read_in_our_terms(MessageKind.STATEMENT, row.body, _References(engine))
        except UnreadableBankMessage:
            continue  # the inbox recorded it as a problem already; message_problems reports it
        for statement in statements:
            if not isinstance(statement, BankStatement):
                continue
            for entry in statement.entries:
                if entry.direction != "DBIT" or entry.is_return:
                    continue
                record = register.get(entry.end_to_end_id or "")
                original = entry.original_message_id
                if record is not None and (not original or original == record.message_id):
                    continue
                key = entry.end_to_end_id or entry.entry_reference or f"{row.bank_message_id}:{entry.amount}"
                why = ("finsync sent no such payment" if record is None else
                       f"finsync sent it in {record.message_id}, not in {entry.original_message_id}")
                # One finding per booking (the bank's own reference), not per EndToEndId: the
                # same id paid in two files is two debits.
                findings[entry.entry_reference or key] = BankFinding(
                    kind=DriftKind.STATEMENT_ENTRY_UNMATCHED, key=key, amount=entry.amount, currency=entry.currency,
                    detail=f"statement {statement.statement_id or statement.message_id} debits {entry.amount} "
                           f"{entry.currency} ({key}, booking {entry.entry_reference or '?'}): {why}")
    return list(findings.values())


def message_problems(engine, since: date, acknowledged: set[str]) -> list[BankFinding]:
    """Bank messages the inbox recorded with a problem, unless treasury acknowledged them."""
    query = select(BankMessageRow).where(col(BankMessageRow.problem).is_not(None),
                                         BankMessageRow.recorded_at >= _start_of(since))
    with Session(engine) as session:
        rows = list(session.exec(query.order_by(col(BankMessageRow.recorded_at), col(BankMessageRow.bank_message_id))))
    return [BankFinding(kind=DriftKind.STATEMENT_ENTRY_UNMATCHED, key=r.bank_message_id,
                        detail=f"{r.kind} {r.bank_message_id}: {r.problem}")
            for r in rows if r.bank_message_id not in acknowledged]


def _start_of(day: date) -> datetime:
    # recorded_at is written in UTC (payment_registers._now); the column type wants a zone.
    return datetime.combine(day, time.min, tzinfo=UTC)
