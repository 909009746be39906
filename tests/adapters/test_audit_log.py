"""The audit log's hash chain on SQLite and PostgreSQL: appends are idempotent by key, entries
link by hash, `verify` names the first entry edited, deleted or moved by hand, and two OS
processes appending at once (two worker replicas) leave one linear chain."""

import multiprocessing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise

import pytest
from sqlalchemy import text

from adapters.audit_log import AuditLog
from adapters.treasury_store import TreasuryStore
from canonical.audit import GENESIS_HASH, AuditKind, AuditRecord, entry_hash

AT = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC)


def _record(key: str, invoice_key: str | None = "1710-1000013-INV1", amount: str = "1190.00") -> AuditRecord:
    return AuditRecord(key=key, invoice_key=invoice_key, kind=AuditKind.MONEY, action="settled by the bank",
                       actor="bank", verified_by="system:bank-inbox", after={"amount": Decimal(amount),
                                                                              "currency": "EUR"}, occurred_at=AT)


@pytest.fixture
def log(treasury_url) -> AuditLog:
    return AuditLog(TreasuryStore(treasury_url).engine)


def _sql(log: AuditLog, statement: str, **params) -> None:
    with log.engine.begin() as conn:
        conn.execute(text(statement), params)


def test_the_same_key_twice_is_one_entry(log):
    first = log.append_decision("invoice-1710-1000013-INV1/upd-1", "1710-1000013-INV1", "approve", "auth0|anna",
                                "jwt:https://idp.example/", {"status": "AWAITING_APPROVAL"},
                                {"status": "APPROVED", "amount": Decimal("1190.00")}, AT)
    again = log.append_decision("invoice-1710-1000013-INV1/upd-1", "1710-1000013-INV1", "reject", "someone else",
                                "jwt:other", None, None, AT + timedelta(hours=1))
    assert again == first
    assert (first.seq, first.kind, first.actor, first.previous_hash) == (1, AuditKind.DECISION, "auth0|anna",
                                                                         GENESIS_HASH)
    assert first.after == '{"amount":"1190.00","status":"APPROVED"}'  # canonical JSON, money as text
    # A batch repeating a key, and a key already there: answered, not appended.
    entries = log.append([_record("E2E-1/SETTLED"), _record("E2E-1/SETTLED", amount="1.00"),
                          _record("invoice-1710-1000013-INV1/upd-1")])
    assert [e.seq for e in entries] == [2, 2, 1] and entries[1].after == entries[0].after
    assert [e.entry_key for e in log.entries()] == ["invoice-1710-1000013-INV1/upd-1", "E2E-1/SETTLED"]
    assert log.verify().model_dump(include={"entries", "broken_at"}) == {"entries": 2, "broken_at": None}


def test_entries_chain_by_hash_and_read_back_as_written(log):
    # A zone other than UTC and a second batch: the hash is over the UTC instant, as stored.
    log.append([_record(f"E2E-{i}/SENT") for i in range(3)])
    log.append([_record("E2E-9/SENT").model_copy(update={"occurred_at": AT.astimezone(timezone(timedelta(hours=2)))})])
    entries = list(log.entries(batch=2))
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    previous = GENESIS_HASH
    for e in entries:
        assert e.previous_hash == previous and e.occurred_at == AT
        assert e.entry_hash == entry_hash(e.seq, e.entry_key, e.invoice_key, e.kind, e.action, e.actor, e.verified_by,
                                          e.before, e.after, e.occurred_at, e.recorded_at, e.previous_hash)
        previous = e.entry_hash
    check = log.verify()
    assert (check.entries, check.intact, check.head_seq, check.head_hash) == (4, True, 4, previous)


def test_the_trail_of_an_invoice_by_key_workflow_id_or_movement(log):
    log.append([_record("FS-ACME-1-01/SENT", invoice_key=None), _record("E2E-A/SENT"),
                _record("E2E-B/SENT", invoice_key="1710-1000014-INV2"), _record("E2E-A/SETTLED")])
    by_key = [e.entry_key for e in log.trail("1710-1000013-INV1")]
    assert by_key == ["E2E-A/SENT", "E2E-A/SETTLED"]
    assert [e.entry_key for e in log.trail("invoice-1710-1000013-INV1")] == by_key
    assert [e.entry_key for e in log.trail("FS-ACME-1-01")] == ["FS-ACME-1-01/SENT"]
    assert log.trail("E2E") == [] and log.trail("E2E-%") == []  # a prefix is a whole key part, no wildcards


def test_verify_names_an_edited_entry(log):
    log.append([_record(f"E2E-{i}/SETTLED") for i in range(5)])
    _sql(log, """UPDATE audit_entry SET "after" = :after WHERE seq = 3""", after='{"amount":"1.00","currency":"EUR"}')
    check = log.verify()
    assert (check.broken_at, check.entries) == (3, 2)
    assert "entry 3 does not match its hash" in (check.problem or "")


def test_verify_names_a_deleted_entry_and_deleted_last_entries(log):
    log.append([_record(f"E2E-{i}/SETTLED") for i in range(5)])
    _sql(log, "DELETE FROM audit_entry WHERE seq = 5")
    check = log.verify()
    assert (check.broken_at, check.entries) == (5, 4) and "head names entry 5" in (check.problem or "")
    _sql(log, "DELETE FROM audit_entry WHERE seq = 2")
    check = log.verify()
    assert check.broken_at == 2 and "entry 2 is missing" in (check.problem or "")


def test_verify_names_a_deletion_hidden_by_renumbering_and_a_reordering(log):
    log.append([_record(f"E2E-{i}/SETTLED") for i in range(5)])
    _sql(log, "DELETE FROM audit_entry WHERE seq = 2")
    _sql(log, "UPDATE audit_entry SET seq = seq - 1 WHERE seq > 2")
    _sql(log, "UPDATE audit_chain_head SET seq = 4")
    check = log.verify()
    assert check.broken_at == 2 and "does not follow entry 1" in (check.problem or "")


def test_verify_names_swapped_entries(log):
    log.append([_record(f"E2E-{i}/SETTLED") for i in range(4)])
    _sql(log, "UPDATE audit_entry SET seq = 100 WHERE seq = 2")
    _sql(log, "UPDATE audit_entry SET seq = 2 WHERE seq = 3")
    _sql(log, "UPDATE audit_entry SET seq = 3 WHERE seq = 100")
    check = log.verify()
    assert check.broken_at == 2 and check.entries == 1


ROUNDS, BATCH = 30, 4


def _append_many(url: str, me: str, barrier, done) -> None:
    """One replica in its own process: its own engine. Every round both append a batch at the
    same moment: their own keys and one key both write (one bank answer read by two workers)."""
    log = AuditLog(TreasuryStore(url).engine)
    try:
        for r in range(ROUNDS):
            barrier.wait()
            log.append([_record(f"{me}-{r}-{i}/SENT") for i in range(BATCH)] + [_record(f"shared-{r}/SETTLED")])
    except Exception as e:  # reported, not a hung test: the other process may wait at the barrier
        barrier.abort()
        done.put((me, repr(e)))
        raise
    done.put((me, None))


def test_two_processes_appending_at_once_leave_one_linear_chain(treasury_url):
    spawn = multiprocessing.get_context("spawn")  # no engine or connection inherited by fork
    barrier, done = spawn.Barrier(2), spawn.Queue()
    processes = [spawn.Process(target=_append_many, args=(treasury_url, f"p{i}", barrier, done)) for i in range(2)]
    for p in processes:
        p.start()
    try:
        assert sorted(done.get(timeout=180) for _ in processes) == [("p0", None), ("p1", None)]
    finally:
        for p in processes:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    log = AuditLog(TreasuryStore(treasury_url).engine)
    entries = list(log.entries())
    expected = 2 * ROUNDS * BATCH + ROUNDS
    assert [e.seq for e in entries] == list(range(1, expected + 1))
    assert len({e.entry_key for e in entries}) == expected
    assert all(b.previous_hash == a.entry_hash for a, b in pairwise(entries))
    check = log.verify()
    assert (check.intact, check.entries, check.head_seq) == (True, expected, expected)
