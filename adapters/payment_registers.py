"""Registers that make the payment side idempotent (DESIGN invariants 2-4), kept in the
treasury database: payment runs executed, payments sent, bank messages recorded before
they are acted on, and bank statements posted to the ERP. Synchronous like the store."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.bank_references import BankReferenceRegister, BankReferenceRow
from adapters.database import ensure_schema
from adapters.sql import insert_ignoring_duplicates, rowcount, table
from adapters.statement_register import PENDING as PENDING  # re-exported: callers know it from here
from adapters.statement_register import PostedStatementRow, StatementRegister
from canonical.bank import BankMessage, MessageKind
from canonical.payment import PaymentRecord


class PaymentRunAlreadyExecuted(RuntimeError):
    """This run key was executed by another workflow run (e.g. after a reset): sending its
    file again under a new run would pay twice."""


MAX_RUN_NUMBER = 9  # canonical.payment_run.PaymentRunRequest.run_number: one digit in the ERP's 6-character run id


def _already_executed(run_key: str, workflow_run_id: str, taken_keys: list[str]) -> PaymentRunAlreadyExecuted:
    """The refusal, with the fix a treasurer needs: a second run of the same account and run
    date is another run number. Run keys are `<account>-<yyyymmdd>-<run number>`
    (workflows.payment_run.run_identity)."""
    prefix, number = run_key.rsplit("-", 1)
    account, day = prefix.rsplit("-", 1)
    day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    taken = sorted({int(k.rsplit("-", 1)[1]) for k in taken_keys if k.rsplit("-", 1)[1].isdigit()})
    free = [n for n in range(1, MAX_RUN_NUMBER + 1) if n not in taken]
    fix = (f'to pay again for {account} on that date, start a new run with "run_number": {free[0]} in the run request '
           f"(taken: {', '.join(map(str, taken))})" if free else
           f"every run number 1-{MAX_RUN_NUMBER} of {account} on that date is taken: give the run another run_date")
    return PaymentRunAlreadyExecuted(f"payment run {run_key} (paying account {account}, run date {day}, "
                                     f"run number {number}) was already executed by workflow run "
                                     f"{workflow_run_id}; {fix}")


class PaymentRunRow(SQLModel, table=True):
    __tablename__ = "payment_run"
    run_key: str = Field(primary_key=True)
    workflow_run_id: str
    registered_at: datetime


class AccountLockRow(SQLModel, table=True):
    __tablename__ = "paying_account_lock"
    account_id: str = Field(primary_key=True)
    holder_workflow_id: str
    acquired_at: datetime


class PaymentRow(SQLModel, table=True):
    __tablename__ = "payment_register"
    end_to_end_id: str = Field(primary_key=True)
    invoice_key: str = Field(index=True)
    workflow_id: str
    run_key: str
    message_id: str = Field(index=True)
    payment_info_id: str
    attempt: int
    amount: str
    currency: str
    remittance_reference: str = Field(index=True)
    accounting_document: str | None = None


class BankMessageRow(SQLModel, table=True):
    __tablename__ = "bank_message"
    bank_message_id: str = Field(primary_key=True)
    kind: str
    account: str | None = None
    body: str
    recorded_at: datetime
    applied_at: datetime | None = Field(default=None, index=True)
    problem: str | None = None


class FileRefusalRow(SQLModel, table=True):
    """The bank's answer to a whole file it refused at the door (HTTP 422): the bank's own
    evidence that none of its payments will be made, recorded before anyone acts on it."""

    __tablename__ = "payment_file_refusal"
    message_id: str = Field(primary_key=True)
    reason_code: str | None = None
    detail: str
    refused_at: datetime


_TABLES = [table(t) for t in (PaymentRunRow, AccountLockRow, PaymentRow, BankMessageRow, PostedStatementRow,
                                 FileRefusalRow, BankReferenceRow)]


def _now() -> datetime:
    return datetime.now(UTC)


class PaymentRegisters(StatementRegister, BankReferenceRegister):
    def __init__(self, engine) -> None:
        self.engine = engine
        ensure_schema(engine)

    # -- payment runs -------------------------------------------------------------------
    def register_payment_run(self, run_key: str, workflow_run_id: str) -> None:
        """The first workflow run to register a run key owns it; one atomic insert, so two
        workers registering at once can not both believe they own it."""
        with Session(self.engine) as session:
            rowcount(session.execute(insert_ignoring_duplicates(self.engine.dialect.name, PaymentRunRow, {
                "run_key": run_key, "workflow_run_id": workflow_run_id, "registered_at": _now()})))  # reads RETURNING
            session.commit()
            row = session.get(PaymentRunRow, run_key)
            assert row is not None, f"payment run {run_key} vanished"  # never deleted
            if row.workflow_run_id != workflow_run_id:
                same_day = run_key.rsplit("-", 1)[0] + "-"
                taken = session.exec(select(PaymentRunRow.run_key)
                                     .where(col(PaymentRunRow.run_key).startswith(same_day))).all()
                raise _already_executed(run_key, row.workflow_run_id, list(taken))

    # -- one run per paying account at a time ---------------------------------------------
    def lock_holder(self, account_id: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(AccountLockRow, account_id)
            return row.holder_workflow_id if row else None

    def acquire_account(self, account_id: str, workflow_id: str, replacing: str | None = None) -> bool:
        """Take the account for this run; `replacing` names a holder known to have ended.
        Compare-and-set in the database, never read-then-write: two workers replacing the same
        ended holder at once both read it, but only one UPDATE still matches it (PostgreSQL
        re-checks the condition on the row another transaction just committed; SQLite has one
        writer at a time), and of two INSERTs of a free account only one finds no row."""
        holders = [workflow_id] if replacing is None else [workflow_id, replacing]
        with Session(self.engine) as session:
            taken = rowcount(session.execute(update(AccountLockRow).where(
                col(AccountLockRow.account_id) == account_id, col(AccountLockRow.holder_workflow_id).in_(holders))
                .values(holder_workflow_id=workflow_id, acquired_at=_now())))
            if not taken:
                taken = rowcount(session.execute(insert_ignoring_duplicates(self.engine.dialect.name, AccountLockRow, {
                    "account_id": account_id, "holder_workflow_id": workflow_id, "acquired_at": _now()})))
            session.commit()
            return taken == 1

    def release_account(self, account_id: str, workflow_id: str) -> None:
        with Session(self.engine) as session:  # only its holder's: a conditional delete
            session.execute(delete(AccountLockRow).where(col(AccountLockRow.account_id) == account_id,
                                                         col(AccountLockRow.holder_workflow_id) == workflow_id))
            session.commit()

    # -- payments -----------------------------------------------------------------------
    def register_payments(self, records: list[PaymentRecord]) -> None:
        """Idempotent: an EndToEndId is registered once, with what it was first sent as."""
        with Session(self.engine) as session:
            known = set(session.exec(select(PaymentRow.end_to_end_id).where(
                col(PaymentRow.end_to_end_id).in_([r.end_to_end_id for r in records]))))
            for r in records:
                if r.end_to_end_id not in known:
                    session.add(PaymentRow(**r.model_dump(exclude={"schema_version", "amount"}), amount=str(r.amount)))
            session.commit()

    def payment(self, end_to_end_id: str) -> PaymentRecord | None:
        with Session(self.engine) as session:
            row = session.get(PaymentRow, end_to_end_id)
            return _record(row) if row else None

    def payments(self, end_to_end_ids: list[str]) -> dict[str, PaymentRecord]:
        """Many at once, by EndToEndId: a pain.002 or camt.054 names thousands."""
        found: dict[str, PaymentRecord] = {}
        unique = sorted(set(end_to_end_ids))
        with Session(self.engine) as session:
            for start in range(0, len(unique), 500):  # below SQLite's bound-parameter limit
                chunk = unique[start:start + 500]
                rows = session.exec(select(PaymentRow).where(col(PaymentRow.end_to_end_id).in_(chunk)))
                found.update((row.end_to_end_id, _record(row)) for row in rows)
        return found

    def payments_in_message(self, message_id: str) -> list[PaymentRecord]:
        with Session(self.engine) as session:
            return [_record(r) for r in session.exec(select(PaymentRow).where(PaymentRow.message_id == message_id))]

    def record_file_refusal(self, message_id: str, reason_code: str | None, detail: str) -> None:
        with Session(self.engine) as session:
            if session.get(FileRefusalRow, message_id) is None:
                session.add(FileRefusalRow(message_id=message_id, reason_code=reason_code, detail=detail[:1000],
                                           refused_at=_now()))
                session.commit()

    def file_refusal(self, message_id: str) -> FileRefusalRow | None:
        with Session(self.engine) as session:
            return session.get(FileRefusalRow, message_id)

    # -- bank messages ------------------------------------------------------------------
    def record_bank_messages(self, messages: list[BankMessage]) -> int:
        """Record before acting (invariant 4). Returns how many were new; ids already seen
        are ignored, since the bank's ids are not monotonic and a message may come twice."""
        new = 0
        for message in messages:
            with Session(self.engine) as session:
                if session.get(BankMessageRow, message.bank_message_id) is not None:
                    continue
                session.add(BankMessageRow(bank_message_id=message.bank_message_id, kind=message.kind.value,
                                           account=message.account, body=message.body, recorded_at=_now()))
                try:
                    session.commit()
                    new += 1
                except IntegrityError:
                    session.rollback()
        return new

    def known_message_ids(self, ids: list[str]) -> set[str]:
        with Session(self.engine) as session:
            return set(session.exec(select(BankMessageRow.bank_message_id)
                                    .where(col(BankMessageRow.bank_message_id).in_(ids))))

    def unapplied_messages(self, limit: int = 200) -> list[BankMessage]:
        with Session(self.engine) as session:
            rows = session.exec(select(BankMessageRow).where(col(BankMessageRow.applied_at).is_(None))
                                .order_by(col(BankMessageRow.recorded_at), col(BankMessageRow.bank_message_id))
                                .limit(limit))
            return [BankMessage(bank_message_id=r.bank_message_id, kind=MessageKind(r.kind), account=r.account,
                                received_at=r.recorded_at, body=r.body) for r in rows]

    def message(self, bank_message_id: str) -> BankMessage | None:
        with Session(self.engine) as session:
            r = session.get(BankMessageRow, bank_message_id)
            return None if r is None else BankMessage(bank_message_id=r.bank_message_id, kind=MessageKind(r.kind),
                                                      account=r.account, received_at=r.recorded_at, body=r.body)

    def messages_since(self, day: date) -> list[BankMessage]:
        """Every recorded bank message since `day` (recorded time), applied or not: what the
        bank has said, for weighing evidence about one payment."""
        since = datetime.combine(day, time.min, tzinfo=UTC)
        with Session(self.engine) as session:
            rows = session.exec(select(BankMessageRow).where(BankMessageRow.recorded_at >= since,
                                                             col(BankMessageRow.body) != "")  # not purged
                                .order_by(col(BankMessageRow.recorded_at)))
            return [BankMessage(bank_message_id=r.bank_message_id, kind=MessageKind(r.kind), account=r.account,
                                received_at=r.recorded_at, body=r.body) for r in rows]

    def mark_applied(self, bank_message_id: str, problem: str | None = None) -> None:
        with Session(self.engine) as session:
            row = session.get(BankMessageRow, bank_message_id)
            if row is not None and row.applied_at is None:
                # A statement's post may have noted its problem already (it runs beside the inbox).
                row.applied_at, row.problem = _now(), "; ".join(filter(None, [row.problem, problem])) or None
                session.add(row)
                session.commit()

    def purge_message_bodies(self, applied_before: datetime) -> int:
        """Empty the raw bodies of messages applied before `applied_before` (they name accounts:
        architecture invariant 9); the row, its id (de-duplication), kind and problem stay.
        One UPDATE; returns how many bodies were emptied."""
        with Session(self.engine) as session:
            purged = rowcount(session.execute(update(BankMessageRow).where(
                col(BankMessageRow.applied_at) < applied_before, col(BankMessageRow.body) != "").values(body="")))
            session.commit()
        return purged

    def add_message_problem(self, bank_message_id: str, problem: str) -> None:
        """A problem found after the message was applied (its statement's post to the ERP)."""
        with Session(self.engine) as session:
            row = session.get(BankMessageRow, bank_message_id)
            if row is not None and problem not in (row.problem or ""):
                row.problem = "; ".join(filter(None, [row.problem, problem]))
                session.add(row)
                session.commit()

    def message_problems(self) -> list[tuple[str, str]]:
        with Session(self.engine) as session:
            rows = session.exec(select(BankMessageRow).where(col(BankMessageRow.problem).is_not(None)))
            return [(r.bank_message_id, r.problem or "") for r in rows]  # none is None: see the query


def _record(row: PaymentRow) -> PaymentRecord:
    return PaymentRecord(**row.model_dump(exclude={"amount"}), amount=Decimal(row.amount))
