"""Byte-identical pushes are recognised before anything is signalled: a sending access point
that retries (or a flood of the same document) costs the lifecycle nothing, not one history
event per push. Kept in intake's own small database, by the document's SHA-256; a document
is recorded only once its lifecycle has it, so a push that failed half-way is taken again."""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, update
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


class PushRegister:
    def __init__(self, url: str = "sqlite://") -> None:
        # In memory (the default, for tests and one-off runs) every connection must see the
        # same database; a file or a server URL needs no such pool.
        pool = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}} if url == "sqlite://" else {}
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, **pool)
        SQLModel.metadata.create_all(self.engine, tables=[table(EInvoicePushRow)])

    def known(self, sha256: str) -> str | None:
        """The lifecycle that already has this document (and count the push), or None."""
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            row = session.get(EInvoicePushRow, sha256)
            if row is None:
                return None
            session.exec(update(EInvoicePushRow).where(col(EInvoicePushRow.sha256) == sha256)
                         .values(pushes=EInvoicePushRow.pushes + 1, last_at=now))
            session.commit()
            return row.workflow_id

    def record(self, sha256: str, workflow_id: str) -> None:
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            if session.get(EInvoicePushRow, sha256) is None:
                session.add(EInvoicePushRow(sha256=sha256, workflow_id=workflow_id, first_at=now, last_at=now))
                session.commit()

    def pushes(self, sha256: str) -> int:
        with Session(self.engine) as session:
            row = session.get(EInvoicePushRow, sha256)
            return row.pushes if row else 0
