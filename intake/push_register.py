"""What intake has answered, so a push costs a lifecycle nothing it already had:

- Byte-identical pushes are recognised before anything is signalled: a sending access point
  that retries (or a flood of the same document) adds no history event. By the document's
  SHA-256; a document is recorded only once its lifecycle has it, so a push that failed half-way
  is taken again.
- Each invoice (workflow id) gets at most a bounded number of distinct documents: those intake
  refused beyond it are kept too, so the same refused bytes are answered the same way again
  without being counted twice, and the count of distinct refusals is exact.

Kept in intake's own small database (`FINSYNC_INTAKE_DB_URL`), created here (no migrations: the
tables only grow, and a new table is created next to the old ones on start)."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Index, create_engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, col

from adapters.sql import table


class EInvoicePushRow(SQLModel, table=True):
    __tablename__ = "einvoice_push"
    sha256: str = Field(primary_key=True)
    workflow_id: str
    first_at: datetime
    last_at: datetime
    pushes: int = 1


class EInvoiceRefusedRow(SQLModel, table=True):
    """A distinct document refused because its invoice had enough documents already."""

    __tablename__ = "einvoice_refused_push"
    sha256: str = Field(primary_key=True)
    workflow_id: str = Field(index=True)
    first_at: datetime
    last_at: datetime
    pushes: int = 1


@dataclass(frozen=True)
class Known:
    workflow_id: str
    refused: bool  # refused as one document too many for its invoice, else passed on


# The push table predates the per-invoice count: its index is created on its own, if missing.
_BY_WORKFLOW = Index("ix_einvoice_push_workflow_id", table(EInvoicePushRow).c.workflow_id)


class PushRegister:
    def __init__(self, url: str = "sqlite://") -> None:
        # In memory (the default, for tests and one-off runs) every connection must see the
        # same database; a file or a server URL needs no such pool.
        pool = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}} if url == "sqlite://" else {}
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, **pool)
        SQLModel.metadata.create_all(self.engine, tables=[table(EInvoicePushRow), table(EInvoiceRefusedRow)])
        _BY_WORKFLOW.create(self.engine, checkfirst=True)

    def known(self, sha256: str) -> Known | None:
        """How this document was answered before (and count the push), or None."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            for model, refused in ((EInvoicePushRow, False), (EInvoiceRefusedRow, True)):
                workflow_id = session.scalar(select(table(model).c.workflow_id).where(table(model).c.sha256 == sha256))
                if workflow_id is not None:
                    session.exec(update(table(model)).where(table(model).c.sha256 == sha256)
                                 .values(pushes=table(model).c.pushes + 1, last_at=now))
                    session.commit()
                    return Known(workflow_id, refused)
        return None

    def record(self, sha256: str, workflow_id: str) -> None:
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            if session.get(EInvoicePushRow, sha256) is None:
                session.add(EInvoicePushRow(sha256=sha256, workflow_id=workflow_id, first_at=now, last_at=now))
                session.commit()

    def documents(self, workflow_id: str) -> int:
        """Distinct documents passed on to this lifecycle."""
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(EInvoicePushRow)
                                  .where(col(EInvoicePushRow.workflow_id) == workflow_id)) or 0

    def refuse(self, sha256: str, workflow_id: str) -> int:
        """Record a refused document; the number of distinct documents refused for this lifecycle."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            session.add(EInvoiceRefusedRow(sha256=sha256, workflow_id=workflow_id, first_at=now, last_at=now))
            try:
                session.commit()
            except IntegrityError:  # another replica refused the same bytes first: one refusal
                session.rollback()
        return self.refused(workflow_id)

    def refused(self, workflow_id: str) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(EInvoiceRefusedRow)
                                  .where(col(EInvoiceRefusedRow.workflow_id) == workflow_id)) or 0

    def pushes(self, sha256: str) -> int:
        with Session(self.engine) as session:
            row = session.get(EInvoicePushRow, sha256) or session.get(EInvoiceRefusedRow, sha256)
            return row.pushes if row else 0
