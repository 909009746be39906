"""Signals waiting to be sent to lifecycles, kept in the treasury database (an outbox).

Workflow code that signals thousands of lifecycles hits Temporal's limits (2,000 pending
signals per execution, 2 MB per payload, a history that grows with every signal). So the
inbox, a statement post and the vendor sync write what they want to say here, under a
batch key, and an activity sends it with bounded concurrency: their histories hold the key
and a count, this table holds the detail, and a retried activity sends only what is still
unsent. Synchronous like the other stores."""

import json
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, col, select

from adapters.database import ensure_schema
from canonical.inbox import LifecycleSignal

DELIVERED, ENDED = "delivered", "ended"  # outcomes; anything else is the failure in words


class OutboxRow(SQLModel, table=True):
    __tablename__ = "lifecycle_outbox"
    batch_key: str = Field(primary_key=True)
    seq: int = Field(primary_key=True)
    workflow_id: str
    signal: str
    argument: str | None = None  # the signal's argument as JSON
    hint: bool = False
    sent_at: datetime | None = None
    outcome: str | None = None


class QueuedSignal(LifecycleSignal):
    batch_key: str
    seq: int


class LifecycleOutbox:
    def __init__(self, engine) -> None:
        self.engine = engine
        ensure_schema(engine)  # adapters/migrations

    def queue(self, batch_key: str, signals: list[LifecycleSignal]) -> int:
        """Idempotent per batch: the first write wins, so a retried activity that queues the
        same batch again keeps what was already sent marked as sent. Returns the batch size."""
        with Session(self.engine) as session:
            existing = session.exec(select(func.count()).select_from(OutboxRow)
                                    .where(OutboxRow.batch_key == batch_key)).one()
            if existing:
                return existing
            session.add_all([OutboxRow(batch_key=batch_key, seq=seq, workflow_id=s.workflow_id, signal=s.signal,
                                       argument=None if s.argument is None else json.dumps(s.argument), hint=s.hint)
                             for seq, s in enumerate(signals)])
            session.commit()
        return len(signals)

    def unsent(self, batch_keys: list[str]) -> list[QueuedSignal]:
        """In the order the batches are named, each in its own order: one lifecycle's signals
        must arrive as the bank sent them (accepted before settled)."""
        rank = {key: i for i, key in enumerate(batch_keys)}
        with Session(self.engine) as session:
            rows = session.exec(select(OutboxRow).where(col(OutboxRow.batch_key).in_(batch_keys),
                                                        col(OutboxRow.sent_at).is_(None)))
            queued = [QueuedSignal(batch_key=r.batch_key, seq=r.seq, workflow_id=r.workflow_id, signal=r.signal,
                                   argument=None if r.argument is None else json.loads(r.argument), hint=r.hint)
                      for r in rows]
        return sorted(queued, key=lambda q: (rank[q.batch_key], q.seq))

    def mark_sent(self, outcomes: list[tuple[str, int, str]]) -> None:
        """(batch key, seq, outcome) for signals that reached their lifecycle or never can."""
        if not outcomes:
            return
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            for batch_key, seq, outcome in outcomes:
                row = session.get(OutboxRow, (batch_key, seq))
                if row is not None and row.sent_at is None:
                    row.sent_at, row.outcome = now, outcome
                    session.add(row)
            session.commit()

    def batches(self, batch_keys: list[str]) -> list[OutboxRow]:
        """Every row of these batches, sent or not: what a report counts."""
        with Session(self.engine) as session:
            return list(session.exec(select(OutboxRow).where(col(OutboxRow.batch_key).in_(batch_keys))
                                     .order_by(col(OutboxRow.batch_key), col(OutboxRow.seq))))
