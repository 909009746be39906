"""A payment run's detail, kept in the treasury database under its run key: what it selected,
what each lifecycle answered, what the ERP let it claim, and each payment file it built.
The workflow's history holds keys, counts and each file's sha256 only, so its size does not
grow with the number of invoices; everything here is idempotent by run key, invoice key and
MsgId, so a retried activity resumes where the last attempt left off.

Bank details (the reservation's creditor account, the file's bytes) arrive sealed by the
caller (the payload codec) and are stored as opaque bytes: never an IBAN in plain text here.

An invoice of a run moves SELECTED → RESERVED → CLAIMED → FILED → SENT | REJECTED, or leaves
it: REFUSED (its lifecycle said no), DROPPED (reserved, but the run can not pay it) or
ERP_REFUSED (the ERP refused the claim) → RELEASED (its lifecycle was told). A file moves
BUILT → SUBMITTING → SENT | REFUSED, or BUILT
→ WITHDRAWN; SUBMITTING and WITHDRAWN exclude each other (compare-and-set), so a file is
either possibly at the bank or certainly not, never both."""

import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Column, Index, LargeBinary, bindparam, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import Select

from adapters.database import ensure_schema
from adapters.sql import table
from canonical.treasury import ExpectedOutflow

SELECTED, REFUSED, RESERVED, DROPPED, RELEASED = "selected", "refused", "reserved", "dropped", "released"
CLAIMED, ERP_REFUSED, FILED, SENT, REJECTED = "claimed", "erp-refused", "filed", "sent", "rejected"
BUILT, SUBMITTING, WITHDRAWN = "built", "submitting", "withdrawn"  # file states, with SENT and REFUSED


class RunHeaderRow(SQLModel, table=True):
    __tablename__ = "payment_run_header"
    run_key: str = Field(primary_key=True)
    workflow_id: str
    workflow_run_id: str
    paying_account_id: str
    payment_run_id: str  # the ERP's run id (its claims carry it)
    run_date: date
    selected_at: datetime
    recovered_by: str | None = None
    recovered_at: datetime | None = None
    recovery_note: str | None = None


class RunItemRow(SQLModel, table=True):
    __tablename__ = "payment_run_item"
    __table_args__ = (Index("ix_payment_run_item_state", "run_key", "state", "invoice_key"),)
    run_key: str = Field(primary_key=True)
    invoice_key: str = Field(primary_key=True)
    amount: str  # Decimal text, as in the outflow
    currency: str
    approvers: str = "[]"  # JSON: who approved it, as the outflow said at selection
    state: str = SELECTED
    reason: str | None = None
    workflow_id: str | None = None
    end_to_end_id: str | None = None
    invoice_document: str | None = None
    fiscal_year: str | None = None
    accounting_document: str | None = None
    reservation: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # sealed ReservedPayment JSON
    message_id: str | None = None
    updated_at: datetime


class RunFileRow(SQLModel, table=True):
    __tablename__ = "payment_run_file"
    message_id: str = Field(primary_key=True)
    run_key: str = Field(index=True)
    number: int
    sha256: str  # of the pain.001 bytes; the run's history holds the same value
    payments: int
    total: str
    sealed_xml: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # Its payments as the payment register will hold them (no bank details): registered when
    # the file is handed to the bank, so a file withdrawn unsent leaves no trace there.
    records: str = "[]"
    state: str = BUILT
    reason: str | None = None
    built_at: datetime
    state_at: datetime


_TABLES = [table(t) for t in (RunHeaderRow, RunItemRow, RunFileRow)]
_IN_LIST = 500  # keys per `IN (...)`: far below SQLite's variable limit


class ItemRef(NamedTuple):
    """An invoice of a run without its sealed detail: what a call to its lifecycle or its
    ERP document needs."""

    invoice_key: str
    workflow_id: str | None
    end_to_end_id: str | None
    invoice_document: str | None
    fiscal_year: str | None
    accounting_document: str | None


def _chunks(keys: list[str]):
    for start in range(0, len(keys), _IN_LIST):
        yield keys[start:start + _IN_LIST]


def _now() -> datetime:
    return datetime.now(UTC)


class PaymentRunStore:
    def __init__(self, engine) -> None:
        self.engine = engine
        ensure_schema(engine)  # adapters/migrations

    # -- selection --------------------------------------------------------------------------
    def record_selection(self, header: RunHeaderRow, outflows: list[ExpectedOutflow]) -> bool:
        """Once per run key: a retry (or a second call) keeps the first selection. False if
        it was already recorded."""
        with Session(self.engine) as session:
            if session.get(RunHeaderRow, header.run_key) is not None:
                return False
            now = _now()
            session.add(header)
            if outflows:
                session.execute(insert(table(RunItemRow)), [
                    {"run_key": header.run_key, "invoice_key": o.invoice_key, "amount": str(o.amount),
                     "currency": o.currency, "approvers": json.dumps(o.approvers), "state": SELECTED,
                     "updated_at": now} for o in outflows])
            try:
                session.commit()
            except IntegrityError:  # recorded by a concurrent attempt
                return False
            return True

    def header(self, run_key: str) -> RunHeaderRow | None:
        with Session(self.engine) as session:
            return session.get(RunHeaderRow, run_key)

    def selection(self, run_key: str) -> tuple[int, Decimal, set[str], int]:
        """(invoices, total, approvers, invoices without approvers) of the run's selection."""
        count, total, approvers, unknown = 0, Decimal(0), set(), 0
        with Session(self.engine) as session:
            for amount, names in session.exec(select(RunItemRow.amount, RunItemRow.approvers)
                                              .where(RunItemRow.run_key == run_key)):
                count, total = count + 1, total + Decimal(amount)
                listed = json.loads(names)
                approvers.update(listed)
                unknown += not listed
        return count, total, approvers, unknown

    # -- items ------------------------------------------------------------------------------
    def items(self, run_key: str, states: tuple[str, ...], limit: int, message_id: str | None = None,
              after: str | None = None) -> list[RunItemRow]:
        """The next `limit` invoices in `states` (after invoice key `after`), in invoice-key
        order, so chunks are stable."""
        query = select(RunItemRow).where(RunItemRow.run_key == run_key, col(RunItemRow.state).in_(states))
        if message_id is not None:
            query = query.where(RunItemRow.message_id == message_id)
        if after is not None:
            query = query.where(RunItemRow.invoice_key > after)
        with Session(self.engine) as session:
            return list(session.exec(query.order_by(RunItemRow.invoice_key).limit(limit)))

    def refs(self, run_key: str, states: tuple[str, ...], message_id: str | None = None) -> list[ItemRef]:
        """Every invoice in `states` (of one file), keys only, in invoice-key order."""
        # What select() makes of several columns; its annotations stop at four.
        query: Select = Select(col(RunItemRow.invoice_key), col(RunItemRow.workflow_id),
                               col(RunItemRow.end_to_end_id), col(RunItemRow.invoice_document),
                               col(RunItemRow.fiscal_year), col(RunItemRow.accounting_document)
                               ).where(col(RunItemRow.run_key) == run_key, col(RunItemRow.state).in_(states))
        if message_id is not None:
            query = query.where(RunItemRow.message_id == message_id)
        with Session(self.engine) as session:
            return [ItemRef(*row) for row in session.exec(query.order_by(RunItemRow.invoice_key))]

    def record_reservations(self, run_key: str, answers: list[dict]) -> None:
        """Each answer: invoice_key, state and the columns it sets. Only a SELECTED invoice
        takes an answer, so a repeated chunk changes nothing. One executemany per kind of
        answer: a compiled ORM update per invoice cost the worker a fifth of a run's reserving."""
        items, kinds = table(RunItemRow), dict[tuple[str, ...], list[dict]]()
        for answer in answers:
            columns = tuple(sorted(k for k in answer if k != "invoice_key"))
            kinds.setdefault(columns, []).append({f"set_{k}": answer[k] for k in columns} | {
                "answered": answer["invoice_key"]})
        with self.engine.begin() as connection:
            for columns, rows in kinds.items():
                sets: dict[str, object] = {c: bindparam(f"set_{c}") for c in columns} | {"updated_at": _now()}
                connection.execute(items.update().where(
                    items.c.run_key == run_key, items.c.invoice_key == bindparam("answered"),
                    items.c.state == SELECTED).values(sets), rows)

    def move(self, run_key: str, invoice_keys: list[str], from_states: tuple[str, ...], to_state: str,
             reason: str | None = None, reasons: dict[str, str] | None = None) -> int:
        """Compare-and-set, in one transaction: only invoices still in `from_states` move;
        `reasons` (per invoice) or `reason` (for all) says why."""
        moved = 0
        with Session(self.engine) as session:
            if reasons:
                for key in invoice_keys:
                    moved += session.exec(update(RunItemRow).where(
                        col(RunItemRow.run_key) == run_key, col(RunItemRow.invoice_key) == key,
                        col(RunItemRow.state).in_(from_states))
                        .values(state=to_state, reason=reasons.get(key, reason), updated_at=_now())).rowcount
            else:
                values = {"state": to_state, "updated_at": _now(), **({"reason": reason} if reason else {})}
                for keys in _chunks(invoice_keys):
                    moved += session.exec(update(RunItemRow).where(
                        col(RunItemRow.run_key) == run_key, col(RunItemRow.invoice_key).in_(keys),
                        col(RunItemRow.state).in_(from_states))
                        .values(**values)).rowcount
            session.commit()
        return moved

    def move_all(self, run_key: str, from_states: tuple[str, ...], to_state: str, reason: str) -> int:
        with Session(self.engine) as session:
            moved = session.exec(update(RunItemRow)
                                 .where(col(RunItemRow.run_key) == run_key, col(RunItemRow.state).in_(from_states))
                                 .values(state=to_state, reason=reason, updated_at=_now())).rowcount
            session.commit()
        return moved

    def counts(self, run_key: str) -> Counter:
        with Session(self.engine) as session:
            rows = session.exec(select(RunItemRow.state, func.count()).where(RunItemRow.run_key == run_key)
                                .group_by(RunItemRow.state))
            return Counter(dict(rows.all()))

    def total(self, run_key: str, state: str) -> Decimal:
        with Session(self.engine) as session:
            amounts = session.exec(select(RunItemRow.amount)
                                   .where(RunItemRow.run_key == run_key, RunItemRow.state == state))
            return sum((Decimal(a) for a in amounts), Decimal(0))

    def reasons(self, run_key: str, states: tuple[str, ...], limit: int) -> dict[str, str]:
        with Session(self.engine) as session:
            rows = session.exec(select(RunItemRow.invoice_key, RunItemRow.reason).where(
                RunItemRow.run_key == run_key, col(RunItemRow.state).in_(states))
                .order_by(RunItemRow.invoice_key).limit(limit))
            return {key: reason or "" for key, reason in rows}

    # -- files ------------------------------------------------------------------------------
    def record_file(self, row: RunFileRow, invoice_keys: list[str]) -> bool:
        """The file and its invoices (CLAIMED → FILED) in one transaction, once per MsgId:
        a file's bytes are never replaced (architecture invariant 3)."""
        with Session(self.engine) as session:
            if session.get(RunFileRow, row.message_id) is not None:
                return False
            session.add(row)
            for keys in _chunks(invoice_keys):
                session.execute(update(RunItemRow).where(
                    col(RunItemRow.run_key) == row.run_key, col(RunItemRow.invoice_key).in_(keys),
                    col(RunItemRow.state) == CLAIMED)
                    .values(state=FILED, message_id=row.message_id, updated_at=_now()))
            session.commit()
            return True

    def file(self, message_id: str) -> RunFileRow | None:
        with Session(self.engine) as session:
            return session.get(RunFileRow, message_id)

    def files(self, run_key: str) -> list[RunFileRow]:
        with Session(self.engine) as session:
            return list(session.exec(select(RunFileRow).where(RunFileRow.run_key == run_key)
                                     .order_by(col(RunFileRow.number))))

    def set_file_state(self, message_id: str, from_states: tuple[str, ...], to_state: str,
                       reason: str | None = None) -> str:
        """Compare-and-set of a file's state; returns the state it has afterwards."""
        with Session(self.engine) as session:
            session.execute(update(RunFileRow)
                            .where(col(RunFileRow.message_id) == message_id, col(RunFileRow.state).in_(from_states))
                            .values(state=to_state, reason=reason, state_at=_now()))
            session.commit()
            row = session.get(RunFileRow, message_id)
            assert row is not None, f"no payment file {message_id}"
            return row.state

    # -- recovery ---------------------------------------------------------------------------
    def record_recovery(self, run_key: str, by: str, note: str) -> None:
        with Session(self.engine) as session:
            row = session.get(RunHeaderRow, run_key)
            assert row is not None, f"no payment run {run_key}"  # the caller read its header
            row.recovered_by, row.recovered_at, row.recovery_note = by, _now(), note[:2000]
            session.add(row)
            session.commit()
