"""The audit log: every decision and money movement, appended to the treasury database and
chained by hash (architecture invariant 13), so the record outlives Temporal's retention and
an entry edited, deleted or moved by hand shows when the chain is walked (`cli audit verify`).

Appends are serialised on the chain head, a one-row table: PostgreSQL locks that row
(SELECT ... FOR UPDATE) and SQLite takes its write lock at BEGIN IMMEDIATE, so of several
worker processes one at a time reads the head, writes entries head+1.. and moves the head, in
one transaction (architecture invariant 14). The sequence number is the primary key and the
entry key unique, so a second writer that somehow skipped the lock could still not fork the
chain. Synchronous like the other stores: activities call it through `asyncio.to_thread`."""

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, insert, select, update
from sqlmodel import Field, SQLModel

from adapters.database import ensure_schema
from adapters.sql import table
from canonical.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditKind,
    AuditRecord,
    ChainCheck,
    canonical_json,
    entry_hash,
    utc,
)

HEAD_ID = 1  # the chain head's only row, written by the migration
_CHUNK = 500  # keys per IN (...): below SQLite's bound-parameter limit


class AuditEntryRow(SQLModel, table=True):
    __tablename__ = "audit_entry"
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    entry_key: str = Field(unique=True)
    invoice_key: str | None = Field(default=None, index=True)
    kind: str
    action: str
    actor: str
    verified_by: str
    before: str | None = None  # JSON text, exactly as hashed
    after: str | None = None
    occurred_at: datetime
    recorded_at: datetime
    previous_hash: str
    entry_hash: str


class AuditChainHeadRow(SQLModel, table=True):
    """The last entry's number and hash: what appends lock, and what shows a deleted last entry."""

    __tablename__ = "audit_chain_head"
    id: int = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    entry_hash: str


_TABLES = [table(AuditEntryRow), table(AuditChainHeadRow)]
_ENTRY, _HEAD = _TABLES


class AuditLog:
    def __init__(self, engine) -> None:
        self.engine = engine
        ensure_schema(engine)  # adapters/migrations

    def append_decision(self, key: str, invoice_key: str | None, action: str, subject: str, verified_by: str,
                        before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
                        occurred_at: datetime) -> AuditEntry:
        """A person's decision, once per key (e.g. "<workflow id>/<update id>"): `subject` is who
        (the token's subject), `verified_by` how ("jwt:<issuer>"), before/after the state it
        changed (JSON-able: Decimal and dates are written as text). The same key again returns
        the entry already there, whatever else is passed."""
        return self.append([AuditRecord(
            key=key, invoice_key=invoice_key, kind=AuditKind.DECISION, action=action, actor=subject,
            verified_by=verified_by, before=None if before is None else dict(before),
            after=None if after is None else dict(after), occurred_at=occurred_at)])[0]

    def append(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """Each record's entry, in order: new ones appended in one transaction under the chain
        lock, known keys (and a key repeated in `records`) answered with the entry they have."""
        if not records:
            return []
        with self.engine.connect() as conn:
            head_seq, head_hash = self._lock_head(conn)
            found = self._by_keys(conn, [r.key for r in records])
            now, rows = datetime.now(UTC), []
            for record in records:
                if record.key in found:
                    continue
                head_seq += 1
                row = {"seq": head_seq, "entry_key": record.key, "invoice_key": record.invoice_key,
                       "kind": record.kind.value, "action": record.action, "actor": record.actor,
                       "verified_by": record.verified_by, "before": canonical_json(record.before),
                       "after": canonical_json(record.after), "occurred_at": utc(record.occurred_at),
                       "recorded_at": now, "previous_hash": head_hash}
                row["entry_hash"] = head_hash = _hash_of(row)
                rows.append(row)
                found[record.key] = AuditEntry.model_validate(row)
            if rows:
                conn.execute(insert(_ENTRY), rows)
                conn.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=head_seq, entry_hash=head_hash))
            conn.commit()
        return [found[r.key] for r in records]

    def _lock_head(self, conn: Connection) -> tuple[int, str]:
        if self.engine.dialect.name == "sqlite":
            # The write lock now, not at the first INSERT: a reader that tried to write later
            # would fail at once with "database is locked" if another wrote since it read.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        head = conn.execute(select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == HEAD_ID)
                            .with_for_update()).one()
        return head.seq, head.entry_hash

    def _by_keys(self, conn: Connection, keys: list[str]) -> dict[str, AuditEntry]:
        unique, found = sorted(set(keys)), dict[str, AuditEntry]()
        for start in range(0, len(unique), _CHUNK):
            rows = conn.execute(select(_ENTRY).where(_ENTRY.c.entry_key.in_(unique[start:start + _CHUNK])))
            found.update((row.entry_key, _entry(row._mapping)) for row in rows)
        return found

    # -- reading ------------------------------------------------------------------------
    def trail(self, reference: str) -> list[AuditEntry]:
        """An invoice's entries, oldest first: by invoice key, by its lifecycle's workflow id
        (`invoice-<key>`), or else the entries whose key starts with `reference/` (a payment
        file's MsgId, an EndToEndId)."""
        key = reference.removeprefix("invoice-")
        with self.engine.connect() as conn:
            rows = conn.execute(select(_ENTRY).where(_ENTRY.c.invoice_key.in_({key, reference}))
                                .order_by(_ENTRY.c.seq)).all()
            if not rows:
                pattern = reference.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"
                rows = conn.execute(select(_ENTRY).where(_ENTRY.c.entry_key.like(pattern, escape="\\"))
                                    .order_by(_ENTRY.c.seq)).all()
        return [_entry(row._mapping) for row in rows]

    def entries(self, batch: int = 1000) -> Iterator[AuditEntry]:
        """Every entry in chain order, read a page at a time."""
        after = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(_ENTRY).where(_ENTRY.c.seq > after).order_by(_ENTRY.c.seq)
                                    .limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield _entry(row._mapping)
            after = rows[-1].seq

    def head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            head = conn.execute(select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == HEAD_ID)).one()
        return head.seq, head.entry_hash

    def verify(self) -> ChainCheck:
        """Walk the chain from entry 1: each number one past the last (a gap is a deleted entry),
        each previous hash the last entry's (else one was moved or replaced), each hash its
        content's (else a field was edited); and the head names the last entry (else the last
        ones were deleted)."""
        head_seq, head_hash = self.head()
        count, last_seq, last_hash = 0, 0, GENESIS_HASH
        for entry in self.entries():
            problem = _problem(entry, last_seq, last_hash)
            if problem is not None:
                return ChainCheck(entries=count, broken_at=problem[0], problem=problem[1], head_seq=head_seq,
                                  head_hash=head_hash)
            count, last_seq, last_hash = count + 1, entry.seq, entry.entry_hash
        if (head_seq, head_hash) != (last_seq, last_hash):
            words = (f"the chain head names entry {head_seq}, the log ends at entry {last_seq}: "
                       f"{'the last entries were deleted' if head_seq > last_seq else 'entries were added by hand'}"
                       if head_seq != last_seq else f"the chain head's hash is not entry {last_seq}'s")
            return ChainCheck(entries=count, broken_at=min(head_seq, last_seq) + (head_seq != last_seq),
                              problem=words, head_seq=head_seq, head_hash=head_hash)
        return ChainCheck(entries=count, head_seq=head_seq, head_hash=head_hash)


def _problem(entry: AuditEntry, last_seq: int, last_hash: str) -> tuple[int, str] | None:
    if entry.seq != last_seq + 1:
        missing = f"{last_seq + 1}" if entry.seq == last_seq + 2 else f"{last_seq + 1}-{entry.seq - 1}"
        return last_seq + 1, f"entry {missing} is missing: the log goes from entry {last_seq} to {entry.seq}"
    if entry.previous_hash != last_hash:
        return entry.seq, (f"entry {entry.seq} does not follow entry {last_seq} (its previous hash differs): "
                           "an entry was moved, replaced or deleted and the rest renumbered")
    if _hash_of(entry.model_dump()) != entry.entry_hash:
        return entry.seq, f"entry {entry.seq} does not match its hash: a field was edited"
    return None


def _hash_of(row: Mapping[str, Any]) -> str:
    return entry_hash(row["seq"], row["entry_key"], row["invoice_key"], row["kind"], row["action"], row["actor"],
                      row["verified_by"], row["before"], row["after"], row["occurred_at"], row["recorded_at"],
                      row["previous_hash"])


def _entry(row: Mapping[Any, Any]) -> AuditEntry:
    values = dict(row)
    values["occurred_at"], values["recorded_at"] = utc(values["occurred_at"]), utc(values["recorded_at"])
    return AuditEntry.model_validate(values)
