"""The audit trail's vocabulary: what a decision or a money movement leaves behind outside
Temporal's retention (architecture invariant 13), and how an entry is chained to the one
before it so an edited, deleted or moved entry shows."""

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from canonical.money import format_amount

GENESIS_HASH = "0" * 64  # the "previous hash" of entry 1
_HASH_FORMAT = "finsync-audit-v1"  # part of every hashed text: a new serialisation gets a new name


class AuditKind(StrEnum):
    DECISION = "decision"
    MONEY = "money"


class AuditRecord(BaseModel):
    """One thing to append. `key` is its idempotency key: appending it again (an activity
    retried, a bank message read twice) returns the entry already there."""

    key: str
    invoice_key: str | None = None
    kind: AuditKind
    action: str
    actor: str = Field(description="who: a person's verified subject, or the party (finsync, bank, erp)")
    verified_by: str = Field(description='how we know: "jwt:<issuer>" for a person, "system:<component>" else')
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    occurred_at: datetime


class AuditEntry(BaseModel):
    """An entry as the log holds it; before/after are the exact JSON text that was hashed."""

    seq: int
    entry_key: str
    invoice_key: str | None
    kind: AuditKind
    action: str
    actor: str
    verified_by: str
    before: str | None
    after: str | None
    occurred_at: datetime
    recorded_at: datetime
    previous_hash: str
    entry_hash: str


class ChainCheck(BaseModel):
    """What walking the chain found: `broken_at` is the first sequence number that is wrong."""

    entries: int
    broken_at: int | None = None
    problem: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def _plain(value: Any) -> Any:
    # Money stays exact text (architecture invariant 5); dates in ISO form.
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, datetime):
        return instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON for the audit trail")


def canonical_json(value: dict[str, Any] | None) -> str | None:
    """One text per value (sorted keys, no spaces), so the same state always hashes alike."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def utc(moment: datetime) -> datetime:
    """Aware UTC. A naive value is UTC already: SQLite hands back what was written in UTC
    without its zone (adapters/database.py)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def instant(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(seq: int, entry_key: str, invoice_key: str | None, kind: str, action: str, actor: str,
               verified_by: str, before: str | None, after: str | None, occurred_at: datetime,
               recorded_at: datetime, previous_hash: str) -> str:
    """sha256 over every field of the entry and the previous entry's hash, as one JSON array in
    a fixed order: changing any field, the entry's place (seq) or what precedes it changes it."""
    fields = [_HASH_FORMAT, seq, entry_key, invoice_key, str(kind), action, actor, verified_by, before, after,
              instant(occurred_at), instant(recorded_at), previous_hash]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def mask_iban(iban: str | None) -> str | None:
    """Country and last four only (architecture invariant 9): enough to tell accounts apart
    in an audit, useless for paying anyone."""
    if not iban:
        return None
    compact = "".join(iban.split()).upper()
    return f"{compact[:2]}****{compact[-4:]}" if len(compact) > 6 else "****"
