"""Chaos run: N invoices (default 1,000) from start to COMPLETED while things go wrong, judged
from the counterparts' own records. Fails on any duplicate posting or payment, any loss, and
any lifecycle that is neither COMPLETED nor carrying an owned case.

    .venv/bin/python bench/chaos.py [-n 1000]

What goes wrong: ~10% of SAP's invoice posts answer 503 and five take longer than the
worker waits (posted, answer lost); the worker is SIGKILLed three times (while invoices post,
during the payment run, while a bank statement is posted to SAP); the Temporal dev server is
killed and restarted once on its SQLite file; the bank is silent (no pain.002) for a day.
"""

import argparse
import asyncio
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from temporalio.client import Client

from _chaos_checks import Verdict, judge, sap_faults, sap_post_answers, states
from _chaos_stack import SAP_TIMEOUT, ChaosStack
from _invoices import make_invoice, sap_our_invoices, start_lifecycle
from canonical.commands import LifecyclePolicy
from canonical.inbox import BankInboxConfig
from canonical.payment_run import PaymentRunRequest
from identity.ap_platform import ensure_dev_platform
from identity.dev_issuer import ensure_dev_issuer
from workflows.invoice_lifecycle import POLICY_MEMO

SUPPLIERS = ["1000013", "1000016"]  # both settle at mock-bank
# After a post whose answer was lost (the slow posts land after 40 s), look again after 60 s.
POLICY = LifecyclePolicy(erp_settle_seconds=60)
T0 = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - T0:6.0f} s] {text}", flush=True)


async def until(check, what: str, timeout: float, every: float = 1.0, show=None):
    """Poll `check` until true; every 30 s `show()` says where things stand."""
    deadline, shown = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        if show is not None and time.monotonic() - shown > 30:
            say(f"waiting for {what}: {await show()}")
            shown = time.monotonic()
        await asyncio.sleep(every)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


async def pending_activity(client: Client, workflow_id: str, words: tuple[str, ...]) -> bool:
    """The workflow (or a child of it) is running an activity whose type says `words`."""
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except Exception:  # noqa: BLE001 - not there (yet)
        return False
    raw = described.raw_description
    return any(any(w in p.activity_type.name.lower() for w in words) for p in raw.pending_activities)


async def any_statement_post(client: Client, task_queue: str) -> bool:
    async for wf in client.list_workflows(f'TaskQueue="{task_queue}" AND ExecutionStatus="Running" AND '
                                          'WorkflowType!="InvoiceToPayment"'):
        if await pending_activity(client, wf.id, ("statement",)):
            return True
    return False


async def bank(stack: ChaosStack, method: str, path: str, **kw) -> dict:
    async with httpx.AsyncClient(base_url=stack.bank_url, timeout=300) as http:
        return (await http.request(method, path, **kw)).raise_for_status().json()


async def run(n: int, v: Verdict) -> None:
    stack = ChaosStack()
    try:
        stack.start_mocks()
        stack.start_temporal()
        stack.start_worker()
        client = await stack.client()
        q, prefix = stack.task_queue, f"C{uuid.uuid4().hex[:5].upper()}"
        say(f"stack up in {stack.dir}; {n} invoices, references {prefix}…")
        await client.start_workflow("BankInbox", BankInboxConfig(poll_seconds=2), id=f"bank-inbox-{q}", task_queue=q)

        stop_faults = asyncio.Event()
        faults = asyncio.create_task(sap_faults(stack.sap_url, stop_faults))
        signer = ensure_dev_platform(stack.identity_dir)  # the worker process trusts the stack's platform
        invoices = [make_invoice(f"{prefix}-{i:05d}", SUPPLIERS[i % 2], signer) for i in range(n)]
        memo = {POLICY_MEMO: POLICY}
        for start in range(0, n, 50):
            await asyncio.gather(*(start_lifecycle(client, inv, q, memo=memo) for inv in invoices[start:start + 50]))
            if start <= n // 3 < start + 50:  # kill 1: while invoices post
                await until(lambda: _posted_at_least(stack, prefix, n // 4), "a quarter posted", 600)
                stack.kill_worker()
                say("worker SIGKILLed while invoices post")
                stack.start_worker()
        say(f"{n} lifecycles started")
        await until(lambda: _settled_before_run(client, q, n), "all SCHEDULED (or owned case)", 1800, every=3,
                    show=lambda: states(client, q))
        stop_faults.set()
        await faults
        answers = await sap_post_answers(stack.sap_url, lost_after_ms=SAP_TIMEOUT * 1000)
        v.say(f"invoice POSTs at SAP: {dict(answers)}")

        await bank(stack, "PATCH", "/_mock/accounts/ACME", json={"behaviour": "silent"})  # silent for a day
        run_date = (await bank(stack, "GET", "/_mock/state"))["clock"]["date"]
        token = ensure_dev_issuer(stack.identity_dir).issue("treasury.tom", workflow_id="payment-run-ACME",
                                                            decision="request_run", now=datetime.now(UTC))
        request = PaymentRunRequest(paying_account_id="ACME", run_date=run_date, horizon_days=60, token=token)
        run_handle = await client.start_workflow("PaymentRun", request, id="payment-run-ACME", task_queue=q)
        await until(lambda: pending_activity(client, run_handle.id, ("claim", "submit", "reserve")), "run busy", 600,
                    0.2)
        stack.kill_worker()  # kill 2: during the run
        say("worker SIGKILLed during the payment run")
        stack.start_worker()
        await run_handle.result()
        say("payment run done")

        stack.restart_temporal()  # the server goes down hard and comes back on its file
        client = await stack.client()
        say("dev server killed and restarted on its SQLite file")
        await bank(stack, "POST", "/_mock/advance", params={"days": 1})
        await bank(stack, "PATCH", "/_mock/accounts/ACME", json={"behaviour": "accept"})
        try:
            await until(lambda: any_statement_post(client, q), "a statement post in flight", 300, 0.2)
            stack.kill_worker()  # kill 3: while the statement is posted
            say("worker SIGKILLed while a bank statement is posted to SAP")
        except TimeoutError as err:
            v.failures.append(f"kill 3 did not happen: {err}")
        stack.start_worker()
        await _drive_to_the_end(stack, client, q, n)
        await judge(client, q, stack.sap_url, stack.bank_url, prefix, [i.key for i in invoices], v)
        v.say(f"worker started {stack.worker_starts} times (3 kills), dev server restarted once; "
              f"{time.monotonic() - T0:.0f} s in all")
    finally:
        stack.stop()


async def _posted_at_least(stack: ChaosStack, prefix: str, count: int) -> bool:
    return len(await sap_our_invoices(stack.sap_url, prefix)) >= count


async def _settled_before_run(client: Client, q: str, n: int) -> bool:
    """Every lifecycle SCHEDULED, or waiting for a person under an owned case."""
    base = f'WorkflowType="InvoiceToPayment" AND TaskQueue="{q}"'
    total = (await client.count_workflows(base)).count
    moving = (await client.count_workflows(f'{base} AND ExecutionStatus="Running" AND ExceptionOwner IS NULL '
                                           'AND InvoiceStatus!="SCHEDULED"')).count
    return total == n and moving == 0


async def _drive_to_the_end(stack: ChaosStack, client: Client, q: str, n: int, days: int = 6) -> None:
    """A bank day at a time until every lifecycle is COMPLETED or owned, and nothing moves."""
    for day in range(days):
        try:
            await until(lambda: _all_done(client, q, n), "all COMPLETED or owned", 240, every=3,
                        show=lambda: states(client, q))
            return
        except TimeoutError:
            await bank(stack, "POST", "/_mock/advance", params={"days": 1})
            say(f"bank day {day + 2}: {await states(client, q)}")


async def _all_done(client: Client, q: str, n: int) -> bool:
    """Nothing left that is running without an owner: COMPLETED, or waiting for a person."""
    counts = await states(client, q)
    return counts["(unowned, not COMPLETED)"] == 0 and counts.get("COMPLETED", 0) + 0 <= n

def _stop_on_sigterm() -> None:
    """SIGTERM (e.g. `timeout`) ends the run through its finally: every process it started stops."""
    def interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> int:
    _stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="invoices (default 1,000)")
    args = parser.parse_args()
    v = Verdict()
    asyncio.run(run(args.n, v))
    for failure in v.failures:
        print(f"FAIL {failure}")
    print("chaos: PASS" if not v.failures else f"chaos: {len(v.failures)} failures")
    return 1 if v.failures else 0


if __name__ == "__main__":
    sys.exit(main())
