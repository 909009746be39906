"""The cycle of bench/payment_cycle.py: N lifecycles to SCHEDULED, a BankInbox, ONE PaymentRun,
then the bank's clock a day at a time until all N are COMPLETED; and the checks of what the
run, mock-bank, SAP and the lifecycles hold at the end."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_cycle.py: a helper of the bench scripts, nothing to measure")
    sys.exit(0)

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.service import RPCError

from _invoices import make_invoice, sap_cleared_items, sap_our_invoices, start_lifecycle
from _progress import TROUBLE, Figures, PaymentDay, Progress
from _stack import CpuMeter
from adapters.bank import BankClient
from adapters.sap import SapClient
from adapters.treasury_store import TreasuryStore
from canonical.inbox import BankInboxConfig
from canonical.payment_run import PaymentRunRequest
from identity import keyring as decision_keys
from identity.dev_issuer import ephemeral_dev_issuer
from settings import Settings
from tests.clock import profile
from worker import build_workers
from workflows.bank_inbox import BankInbox
from workflows.payment_run import PaymentRun, payment_run_workflow_id

SUPPLIERS = ["1000013", "1000016"]  # GLOBEX (held by the bank) and an external IBAN: both settle


# -- mock-bank ----------------------------------------------------------------------------

async def bank_state(bank_url: str) -> dict:
    async with httpx.AsyncClient(base_url=bank_url, timeout=60) as http:
        return (await http.get("/_mock/state")).raise_for_status().json()


async def bank_advance(bank_url: str) -> dict:
    async with httpx.AsyncClient(base_url=bank_url, timeout=180) as http:
        return (await http.post("/_mock/advance", params={"days": 1})).raise_for_status().json()


async def bank_payments(bank_url: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=bank_url, timeout=60) as http:
        body = (await http.get("/_mock/payments", params={"limit": 1_000_000})).raise_for_status().json()
    return body if isinstance(body, list) else body.get("payments", body.get("results", []))


# -- the cycle -----------------------------------------------------------------------------

async def cycle(client: Client, settings: Settings, bank_url: str, cpu: CpuMeter, args, prefix: str,
                worker_overrides: dict, f: Figures) -> tuple[Progress, list[str]]:
    failures: list[str] = []
    store = TreasuryStore(settings.treasury_db_url)
    # The capacity overrides are the worker's own settings (worker_capacity.py).
    settings = settings.model_copy(update=worker_overrides)
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
        # As the embedded stack and deploy/ run it: lifecycles on their queue; runs, the inbox and
        # its statement posts on the payments queue, each queue with its own Worker and slots.
        workers = build_workers(client, settings, sap, store, bank)
        for worker in workers:
            config = worker.config()
            print(f"worker on {worker.task_queue}: max_concurrent_activities={config.get('max_concurrent_activities')}"
                  f", max_concurrent_workflow_tasks={config.get('max_concurrent_workflow_tasks')}, "
                  f"max_cached_workflows={config.get('max_cached_workflows')}"
                  + (f" (overridden: {worker_overrides})" if worker_overrides else " (the defaults)"), flush=True)
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            f.t0 = time.time()
            progress = Progress(client, settings.task_queue, args.n, args.poll_ms / 1000, f.t0)
            watcher = asyncio.create_task(progress.run())
            try:
                failures = await _drive(client, settings, bank_url, cpu, args, prefix, progress, f)
            finally:
                watcher.cancel()
                try:
                    await progress.poll_once()  # the last word, after the watcher stopped
                except Exception:  # noqa: BLE001 - the figures then come from the watcher's last count
                    pass
    return progress, failures


async def _drive(client: Client, settings: Settings, bank_url: str, cpu: CpuMeter, args, prefix: str,
                 progress: Progress, f: Figures) -> list[str]:
    tq, n = settings.task_queue, args.n
    # 1. N lifecycles to SCHEDULED, all started at once. With --days D they fall due on D
    # consecutive days (block k one day after block k-1), so each day's run pays one block;
    # with --arrival daily, block k is only started on day k.
    block = lambda i: i * args.days // n  # noqa: E731 - contiguous blocks of (about) n / D
    first_day = profile().business_date - timedelta(days=args.days - 1)
    invoices = [make_invoice(f"{prefix}{i:05d}", SUPPLIERS[i % len(SUPPLIERS)],
                             invoice_date=first_day + timedelta(days=block(i))) for i in range(n)]
    batches = [[inv for i, inv in enumerate(invoices) if block(i) == k] for k in range(args.days)]
    f.days = [PaymentDay(invoices=len(batch)) for batch in batches]
    if args.arrival == "once":
        batches = [invoices] + [[] for _ in batches[1:]]
    if problem := await _arrive(client, tq, cpu, args, progress, f, 0, batches[0]):
        return [problem]

    # 2. The inbox, then one payment run.
    deadline = time.time() + args.timeout
    before = cpu.sample()
    inbox = await client.start_workflow(BankInbox.run,
                                        BankInboxConfig(poll_seconds=args.inbox_poll, batch_size=args.batch),
                                        id=f"bank-inbox-{prefix}", task_queue=settings.payments_task_queue)
    alive = lambda: inbox_dead(client, inbox.id)  # noqa: E731
    try:
        return await _pay_and_settle(client, bank_url, cpu, args, progress, f, deadline, before, alive, batches,
                                     settings.payments_task_queue)
    finally:
        f.inbox_end = await inbox_dead(client, inbox.id) or "RUNNING"
        if f.inbox_end == "RUNNING":
            try:
                f.inbox_problems = (await inbox.query(BankInbox.status)).get("problems", [])
                await inbox.terminate("benchmark done")
            except RPCError as e:
                print(f"  inbox status query or terminate failed: {e}")


async def _arrive(client: Client, tq: str, cpu: CpuMeter, args, progress: Progress, f: Figures, k: int,
                  batch: list) -> str | None:
    """Day k's invoices (all N on day 0 with --arrival once) started at once, then SCHEDULED."""
    day, before = f.days[k], cpu.sample()
    day.arrived = time.time() if k else f.t0
    await asyncio.gather(*(start_lifecycle(client, inv, tq) for inv in batch))
    f.starts_done = f.starts_done or time.time()
    so_far = f.invoices_until(k) if args.arrival == "daily" else args.n
    if problem := await progress.wait_for("SCHEDULED", day.arrived + args.schedule_timeout, None, so_far):
        return f"{problem} ({args.schedule_timeout:g} s)"
    day.scheduled = time.time()
    _add_cpu(f, "to SCHEDULED", cpu.since(before))
    return None


async def _pay_and_settle(client: Client, bank_url: str, cpu: CpuMeter, args, progress: Progress, f: Figures,
                          deadline: float, before: dict[str, float], alive, batches: list[list],
                          run_queue: str) -> list[str]:
    # The bench's in-process worker trusts an issuer of its own; treasury.tom requests each run.
    issuer = ephemeral_dev_issuer()
    decision_keys.install(issuer.keyring())
    failures: list[str] = []
    for k in range(len(f.days)):
        if k and batches[k] and (problem := await _arrive(client, progress.task_queue, cpu, args, progress, f, k,
                                                            batches[k])):
            return [problem]
        if k:  # each booking day gets --timeout from its start (its invoices SCHEDULED)
            deadline = time.time() + args.timeout
        failures += await _pay_one_day(client, bank_url, cpu, args, progress, f, deadline, alive, issuer, k,
                                       run_queue)
        if failures:
            break
    return failures


def _add_cpu(f: Figures, phase: str, used: dict[str, float]) -> None:
    f.cpu[phase] = {name: f.cpu.get(phase, {}).get(name, 0.0) + seconds for name, seconds in used.items()}


async def _pay_one_day(client: Client, bank_url: str, cpu: CpuMeter, args, progress: Progress, f: Figures,
                       deadline: float, alive, issuer, k: int, run_queue: str) -> list[str]:
    """Day k: a run pays the invoices due that day, the bank answers and books them, and its
    statement clears them; the lifecycles counted include every earlier day's."""
    day, so_far = f.days[k], f.invoices_until(k)
    token = issuer.issue("treasury.tom", workflow_id=payment_run_workflow_id("ACME"), decision="request_run",
                         now=datetime.now(UTC))
    request = PaymentRunRequest(paying_account_id="ACME", run_date=profile().business_date, run_number=k + 1,
                                horizon_days=30 - (len(f.days) - 1 - k),  # due by block k's due date
                                max_payments_per_file=args.per_file, token=token)
    before = cpu.sample()
    day.run_start = time.time()
    run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                      task_queue=run_queue)
    try:
        day.summary = await asyncio.wait_for(run.result(), timeout=max(1.0, deadline - time.time()))
    except TimeoutError:
        f.run_stage = (await run.query(PaymentRun.status)).get("stage", "?")
        return [f"the payment run did not end within {args.timeout:g} s (stage: {f.run_stage})"]
    except WorkflowFailureError as e:
        return [f"the payment run failed: {e.cause}"]
    day.run_end = time.time()
    _add_cpu(f, "payment run", cpu.since(before))
    failures = []
    if day.summary.paid_invoices != day.invoices:
        failures.append(f"the payment run of day {k + 1} paid {day.summary.paid_invoices} of {day.invoices} "
                        f"(refused: {dict(list(day.summary.refused.items())[:5])})")

    # The bank's answers, then its clock, a day at a time.
    before = cpu.sample()
    try:
        if problem := await progress.wait_for("ACCEPTED", deadline, alive, so_far):
            return [*failures, problem]
        day.accepted = time.time()
        state = await bank_state(bank_url)
        for _ in range(args.max_days):  # until the bank has booked every payment
            if state["payments"]["booked"] >= state["payments"]["accepted"]:
                break
            await _advance(bank_url, f, day)
            state = await bank_state(bank_url)
        if problem := await progress.wait_for("SETTLED", deadline, alive, so_far):
            booked, accepted = state["payments"]["booked"], state["payments"]["accepted"]
            return [*failures, f"{problem} (bank booked {booked}, accepted {accepted})"]
        day.settled = time.time()
        await _advance(bank_url, f, day)  # closes the booking day: its camt.053 is released
        if problem := await progress.wait_for("COMPLETED", deadline, alive, so_far):
            return [*failures, problem]
        day.completed = time.time()
    finally:
        _add_cpu(f, "bank answers, advances, clearing", cpu.since(before))
    return failures


async def inbox_dead(client: Client, workflow_id: str) -> str | None:
    """None while the inbox (its latest run) runs; else its end and why."""
    handle = client.get_workflow_handle(workflow_id)
    described = await handle.describe()
    if described.status == WorkflowExecutionStatus.RUNNING:
        return None
    why = ""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            why = failure.message
            while failure.HasField("cause"):
                failure = failure.cause
                why += f" <- {failure.message}"
    return f"the BankInbox workflow is {described.status.name}" + (f": {why}" if why else "")


async def _advance(bank_url: str, f: Figures, day: PaymentDay) -> None:
    start = time.time()
    answer = await bank_advance(bank_url)
    state = await bank_state(bank_url)
    day.advances.append((start, time.time(), state["clock"]["date"]))
    print(f"  [{start - f.t0:7.1f} s] bank clock advanced one day to {state['clock']['date']} "
          f"in {time.time() - start:.2f} s (business days crossed: {answer.get('businessDaysCrossed', '?')}; "
          f"booked {state['payments']['booked']})",
          flush=True)


# -- the checks ----------------------------------------------------------------------------

async def verify(client: Client, f: Figures, bank_url: str, sap_url: str, prefix: str, n: int, per_file: int,
                 progress: Progress) -> list[str]:
    failures = []
    print("\nChecks")
    for k, day in enumerate(f.days):
        if not (summary := day.summary):
            continue
        files = -(-day.invoices // per_file)
        print(f"  run {summary.run_key} summary: paid {summary.paid_invoices}, total {summary.total} "
              f"{summary.currency}, files {summary.message_ids}, refused {len(summary.refused)}, "
              f"file rejected {summary.file_rejected}")
        if len(summary.message_ids) != files:
            failures.append(f"the run of day {k + 1} sent {len(summary.message_ids)} files, expected {files}")
    state = await bank_state(bank_url)
    pay = state["payments"]
    rows = await bank_payments(bank_url)
    e2e = {row.get("end_to_end_id") or row.get("endToEndId") for row in rows}
    print(f"  mock-bank /_mock/state: files {pay['files']}, accepted {pay['accepted']}, booked {pay['booked']}, "
          f"rejected {pay['rejected']}, returned {pay['returned']}; /_mock/payments: {len(rows)} rows, "
          f"{len(e2e - {None})} distinct EndToEndIds")
    if pay["accepted"] != n or pay["booked"] != n or pay["rejected"] or pay["returned"]:
        failures.append(f"mock-bank accepted {pay['accepted']} and booked {pay['booked']} payments "
                        f"(rejected {pay['rejected']}, returned {pay['returned']}), expected exactly {n}")
    if rows and len(e2e - {None}) != n:
        failures.append(f"mock-bank lists {len(e2e - {None})} distinct EndToEndIds, expected {n}")
    # accounting document -> reference, for this run's invoices
    ours = {row["AccountingDocument"]: row["SupplierInvoiceIDByInvcgParty"]
            for row in await sap_our_invoices(sap_url, prefix, "AccountingDocument")}
    cleared = await sap_cleared_items(sap_url)
    cleared_ours = {row["AccountingDocument"] for row in cleared if row["AccountingDocument"] in ours}
    print(f"  SAP: {len(ours)} invoices of this run; supplier items cleared by a payment: {len(cleared)} in all, "
          f"{len(cleared_ours)} of this run's; still claimed by a run: "
          f"{sum(1 for row in cleared if row['AccountingDocument'] in ours and row.get('PaymentRunID'))}")
    if len(ours) != n or len(cleared_ours) != n:
        failures.append(f"SAP cleared {len(cleared_ours)} of this run's {len(ours)} invoices, expected {n}")
    print("  lifecycles: " + " ".join(f"{s}≥{c}" for s, c in progress.counts.items())
          + f"; in trouble states ({', '.join(TROUBLE)}): {progress.trouble}")
    if progress.trouble:
        failures.append(f"{progress.trouble} lifecycles in {'/'.join(TROUBLE)}")
    print(f"  bank inbox at the end: {f.inbox_end or 'never started'}")
    if f.inbox_end and f.inbox_end != "RUNNING":
        failures.append(f.inbox_end)  # main() drops it if the cycle already failed on it
    if f.inbox_problems is not None:
        print(f"  bank inbox problems for treasury-ops: {len(f.inbox_problems)}"
              + "".join(f"\n    {p['bank_message_id']}: {p['problem'][:300]}" for p in f.inbox_problems[:5]))
    return failures


def add_cycle_options(parser, schedule_timeout: float, timeout: float) -> None:
    """The options every bench driving this cycle takes (payment_cycle.py, end_to_end.py)."""
    parser.add_argument("--per-file", type=int, default=500, help="max_payments_per_file of the run (default 500)")
    parser.add_argument("--inbox-poll", type=float, default=1.0, help="BankInbox poll_seconds (default 1)")
    parser.add_argument("--batch", type=int, default=100, help="BankInbox batch_size (default 100)")
    parser.add_argument("--poll-ms", type=float, default=500, help="visibility count interval (default 500)")
    parser.add_argument("--schedule-timeout", type=float, default=schedule_timeout,
                        help=f"seconds for N to reach SCHEDULED (default {schedule_timeout:g})")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"seconds from SCHEDULED to all COMPLETED, per booking day with --days "
                             f"(default {timeout:g})")
    parser.add_argument("--max-days", type=int, default=5,
                        help="bank days to advance at most before settlement (default 5)")
    parser.add_argument("--days", type=int, default=1, choices=range(1, 10), metavar="D",
                        help="spread the N invoices over D booking days: D payment runs (one a day, run numbers "
                             "1..D), one bank statement each (default 1; at most 9, a run number's digit)")
    parser.add_argument("--arrival", choices=("once", "daily"), default="once",
                        help="with --days: start all N at once (default), or each day's invoices on their day "
                             "(the ERP then holds one day's open items when a statement is posted)")
