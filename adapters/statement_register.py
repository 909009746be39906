"""The register of bank statements posted to the ERP (DESIGN invariant 4: at most once per
account and statement number), kept in the treasury database beside the payment registers."""

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

    def claim_statement_posting(self, statement_key: str, bank_message_id: str) -> tuple[str, str] | None:
        """Write "pending" for the statement unless an entry exists; atomic (one insert that
        does nothing on a duplicate key), so two messages carrying the same statement (the bank
        sent it twice), in two workers or one, cannot both post it. None: this message holds the
        claim now; else the entry that was there."""
        with Session(self.engine) as session:
            claim = insert_ignoring_duplicates(self.engine.dialect.name, PostedStatementRow, {
                "statement_key": statement_key, "bank_message_id": bank_message_id, "erp_reference": PENDING,
                "posted_at": _now()})
            claimed = rowcount(session.execute(claim))
            session.commit()
        return None if claimed == 1 else self.statement_posting(statement_key)

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
