"""The register of bank statements posted to the ERP (DESIGN invariant 4: at most once per
account and statement number), kept in the treasury database beside the payment registers.

Keys are `<our account id>:<statement number>` (e.g. `ACME:2025-001`). Entries written before
that are under `<IBAN>:<statement number>` (the legacy key): every lookup and every claim also
looks there, so a statement claimed under its old key is never posted a second time."""

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col

from adapters.sql import insert_ignoring_duplicates, rowcount


class PostedStatementRow(SQLModel, table=True):
    __tablename__ = "posted_statement"
    statement_key: str = Field(primary_key=True)
    bank_message_id: str
    erp_reference: str
    posted_at: datetime


PENDING = "pending"  # a statement claimed for posting whose ERP answer is not recorded (yet)


def _now() -> datetime:
    return datetime.now(UTC)


class StatementRegister:
    engine: Engine

    def statement_posting(self, statement_key: str) -> tuple[str, str] | None:
        """(bank message id, ERP reference) of the statement's entry, or None."""
        with Session(self.engine) as session:
            row = session.get(PostedStatementRow, statement_key)
            return (row.bank_message_id, row.erp_reference) if row else None

    def find_statement_posting(self, statement_key: str, legacy_key: str | None) -> tuple[str, str, str] | None:
        """(the key it is under, bank message id, ERP reference) of the statement's entry under
        its key or, written before keys named our account, its legacy key; or None."""
        for key in filter(None, (statement_key, legacy_key)):
            if (found := self.statement_posting(key)) is not None:
                return key, *found
        return None

    def claim_statement_posting(self, statement_key: str, bank_message_id: str,
                                legacy_key: str | None = None) -> tuple[str, str] | None:
        """Write "pending" for the statement unless an entry exists; atomic (one insert that
        does nothing on a duplicate key), so two messages carrying the same statement (the bank
        sent it twice), in two workers or one, cannot both post it. None: this message holds the
        claim now; else the entry that was there. An entry of another message under the legacy
        key, found after the insert, wins: this message's claim is taken back."""
        with Session(self.engine) as session:
            claim = insert_ignoring_duplicates(self.engine.dialect.name, PostedStatementRow, {
                "statement_key": statement_key, "bank_message_id": bank_message_id, "erp_reference": PENDING,
                "posted_at": _now()})
            claimed = rowcount(session.execute(claim))
            session.commit()
        if claimed != 1:
            return self.statement_posting(statement_key)
        earlier = self.statement_posting(legacy_key) if legacy_key else None
        if earlier is not None and earlier[0] != bank_message_id:
            self.release_statement_claim(statement_key, bank_message_id)
            return earlier
        return None

    def release_statement_claim(self, statement_key: str, bank_message_id: str) -> None:
        """Only when the ERP certainly received nothing (not reachable, or busy before processing);
        only this message's pending claim, in one conditional delete."""
        with Session(self.engine) as session:
            session.execute(delete(PostedStatementRow).where(
                col(PostedStatementRow.statement_key) == statement_key,
                col(PostedStatementRow.bank_message_id) == bank_message_id,
                col(PostedStatementRow.erp_reference) == PENDING))
            session.commit()

    def record_statement_posting(self, statement_key: str, bank_message_id: str, erp_reference: str) -> None:
        """The ERP's answer to a claimed post: its IDoc number, what recovery found, or its refusal.
        A "pending" entry found later means the outcome is unknown: the ERP is asked, never posted to again."""
        with Session(self.engine) as session:
            row = session.get(PostedStatementRow, statement_key) or PostedStatementRow(
                statement_key=statement_key, bank_message_id=bank_message_id, erp_reference=erp_reference,
                posted_at=_now())
            row.erp_reference, row.posted_at = erp_reference, _now()
            session.add(row)
            session.commit()
