"""The registers that keep payment runs and statement posts single, on SQLite and PostgreSQL,
contended by two OS processes at once (what several worker replicas do): every round, both
processes wait at a barrier and then race for the same thing; exactly one may win.

The account lock's old read-then-write let both replace the same ended holder, and the
statement claim and run registration must hold whatever the timing."""

import multiprocessing
from collections import Counter

import pytest

from adapters.payment_registers import PaymentRegisters, PaymentRunAlreadyExecuted
from adapters.treasury_store import TreasuryStore

ROUNDS = 25
CONTENDERS = 2


def _contend(url: str, me: str, barrier, results) -> None:
    """One contender, in its own process: its own engine and connections, as a worker has."""
    registers = PaymentRegisters(TreasuryStore(url).engine)
    won: list[tuple[str, int]] = []
    for r in range(ROUNDS):
        barrier.wait()
        if registers.acquire_account(f"ACC-{r}", me, replacing=f"ended-{r}"):
            won.append(("account", r))
        barrier.wait()
        if registers.claim_statement_posting(f"ACC-{r}/STMT-{r}", f"msg-{me}-{r}") is None:
            won.append(("statement", r))
        barrier.wait()
        try:
            registers.register_payment_run(f"ACC-2026110{r % 10}-{r // 10 + 1}", f"wf-run-{me}")
            won.append(("run", r))
        except PaymentRunAlreadyExecuted:
            pass
    results.put((me, won))


def test_two_processes_contending_never_both_win(treasury_url):
    registers = PaymentRegisters(TreasuryStore(treasury_url).engine)
    for r in range(ROUNDS):  # each account held by a run that has since ended
        assert registers.acquire_account(f"ACC-{r}", f"ended-{r}")
    spawn = multiprocessing.get_context("spawn")  # no engine or connection inherited by fork
    barrier, results = spawn.Barrier(CONTENDERS), spawn.Queue()
    processes = [spawn.Process(target=_contend, args=(treasury_url, f"p{i}", barrier, results))
                 for i in range(CONTENDERS)]
    for p in processes:
        p.start()
    try:
        outcomes = dict(results.get(timeout=120) for _ in processes)
    finally:
        for p in processes:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    wins = Counter(win for won in outcomes.values() for win in won)
    for kind in ("account", "statement", "run"):
        assert [wins[(kind, r)] for r in range(ROUNDS)] == [1] * ROUNDS, kind
    for me, won in outcomes.items():  # the store agrees with who thought they won
        for kind, r in won:
            if kind == "account":
                assert registers.lock_holder(f"ACC-{r}") == me
            elif kind == "statement":
                assert registers.statement_posting(f"ACC-{r}/STMT-{r}") == (f"msg-{me}-{r}", "pending")


def test_lock_is_released_only_by_its_holder(treasury_url):
    registers = PaymentRegisters(TreasuryStore(treasury_url).engine)
    assert registers.acquire_account("ACME", "run-a")
    assert not registers.acquire_account("ACME", "run-b")
    assert registers.acquire_account("ACME", "run-a")  # its own again: a retried activity
    registers.release_account("ACME", "run-b")
    assert registers.lock_holder("ACME") == "run-a"
    assert not registers.acquire_account("ACME", "run-b", replacing="run-x")  # x is not the holder
    assert registers.acquire_account("ACME", "run-b", replacing="run-a")
    registers.release_account("ACME", "run-b")
    assert registers.lock_holder("ACME") is None


def test_a_statement_claim_is_released_only_while_pending_and_by_its_message(treasury_url):
    registers = PaymentRegisters(TreasuryStore(treasury_url).engine)
    assert registers.claim_statement_posting("ACME/1", "m1") is None
    assert registers.claim_statement_posting("ACME/1", "m2") == ("m1", "pending")
    registers.release_statement_claim("ACME/1", "m2")
    assert registers.statement_posting("ACME/1") == ("m1", "pending")
    registers.release_statement_claim("ACME/1", "m1")
    assert registers.claim_statement_posting("ACME/1", "m2") is None
    registers.record_statement_posting("ACME/1", "m2", "IDOC-1")
    registers.release_statement_claim("ACME/1", "m2")  # answered: no longer releasable
    assert registers.statement_posting("ACME/1") == ("m2", "IDOC-1")


def test_a_run_key_belongs_to_its_first_workflow_run(treasury_url):
    registers = PaymentRegisters(TreasuryStore(treasury_url).engine)
    registers.register_payment_run("ACME-20261127-1", "wf-1")
    registers.register_payment_run("ACME-20261127-1", "wf-1")  # a retry
    with pytest.raises(PaymentRunAlreadyExecuted, match='"run_number": 2'):
        registers.register_payment_run("ACME-20261127-1", "wf-2")
