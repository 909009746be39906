"""The payment half of `up` (demo tooling, never the worker's path): once the samples are
SCHEDULED, the bank inbox and one sample payment run per paying account that pays a sample
(ACME in pain.001, ACMEUS in NACHA, ACMEDE for Tryton's 2710), then mock-bank's clock a day at
a time (cli/demo_bank_clock.py) until every awaited sample has its outcome, so a newcomer sees
invoices reach COMPLETED (and the AC04/RC01 ones wait for AP) in the Web UI.

Resumable like the samples: the inbox is joined if it runs, each sample run is started once
(its id is remembered, and a sample past SCHEDULED means it already happened), and the clock
moves only while an awaited sample waits for the bank.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from canonical.inbox import BankInboxConfig
from canonical.payment_run import PaymentRunRequest, PaymentRunSummary
from canonical.status import InvoiceLifecycleStatus
from canonical.status import InvoiceStatus as S
from cli import stack_accounts
from cli.commands import format_table, status_row
from cli.decision import identity_dev_dir
from cli.demo_bank_clock import advance_bank_day, bank_today, save_bank_clock
from cli.samples import read_status
from identity.configured import development_issuer
from workflows.payment_run import payment_run_workflow_id

# By name, like the lifecycle in cli.samples: the workflows' public contract.
INBOX_TYPE, INBOX_ID = "BankInbox", "bank-inbox"
RUN_TYPE = "PaymentRun"
INBOX_POLL_SECONDS = 2.0

# The bank account AP switches INITECH (account closed, AC04) to in the guide's `resolve`.
REMEDIATION_SUPPLIER, REMEDIATION_ACCOUNT = "1000014", "0002"
REMEDIATION_IBAN, REMEDIATION_BIC = "DE89370400440532013000", "COBADEFFXXX"

MAX_ADVANCES = 5  # a Friday after the cut-off settles on Monday and clears on Tuesday: 4
QUIET_SECONDS = 3.0  # nothing moved for this long after a step: the inbox has polled
STEP_TIMEOUT = 20.0
RUN_TIMEOUT = 30.0

# Where a sample stays whatever the bank's clock does: done, waiting for a person, or (once the
# run is over) waiting for the next payment run.
AT_REST = {S.COMPLETED, S.AWAITING_REMEDIATION, S.CANCELLED, S.ON_HOLD, S.SCHEDULED}
# Moving on without the clock (a pain.002 is released at once, clearing completes at once):
# wait for these rather than advance past them.
MOVING = {S.RECEIVED, S.VALIDATED, S.POSTED, S.IN_PAYMENT_RUN, S.SENT_TO_BANK, S.BANK_REJECTED, S.CLEARED}
# Everything else (ACCEPTED, SETTLED, RETURNED, REOPENED) waits for a bank day: settlement,
# the day's statement.

Views = dict[str, InvoiceLifecycleStatus | None]


# -- the counterparts ---------------------------------------------------------------------
async def ensure_remediation_account(sap_url: str) -> bool:
    """Give INITECH a second bank account in the ERP, so the guide's `resolve` (pay to 0002)
    works. True if it was added now."""
    return await stack_accounts.ensure_supplier_bank_account(sap_url, REMEDIATION_SUPPLIER, REMEDIATION_ACCOUNT, {
        "BankCountryKey": REMEDIATION_IBAN[:2], "IBAN": REMEDIATION_IBAN, "SWIFTCode": REMEDIATION_BIC})


# -- the workflows ------------------------------------------------------------------------
async def start_inbox(client: Client, task_queue: str) -> WorkflowHandle:
    """Start the long-running inbox, or join the one an earlier `up` started."""
    try:  # only to say "started" or "joined": the start call below decides
        described = await client.get_workflow_handle(INBOX_ID).describe()
        running = described.status == WorkflowExecutionStatus.RUNNING
        if running and described.task_queue != task_queue:
            # Started by an `up` from before the queues were split by kind: no worker serves
            # BankInbox on its queue now. Its state is in the treasury store, so a restart loses nothing.
            print(f"  warning: {INBOX_ID} runs on task queue {described.task_queue}, which no worker serves for it "
                  f"now; move it: temporal workflow terminate --workflow-id {INBOX_ID} --reason 'to {task_queue}', "
                  "then `make up` again", flush=True)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        running = False
    try:
        handle = await client.start_workflow(
            INBOX_TYPE, BankInboxConfig(poll_seconds=INBOX_POLL_SECONDS), id=INBOX_ID, task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="reads mock-bank's mailbox, signals the lifecycles, posts statements to the ERP")
    except WorkflowAlreadyStartedError:  # e.g. a closed one under a reuse policy that refuses
        handle, running = client.get_workflow_handle(INBOX_ID), True
    print(f"  {'joined ' if running else 'started'}  {INBOX_ID} "
          f"(BankInbox, polls mock-bank every {INBOX_POLL_SECONDS:g}s)", flush=True)
    return handle


def run_is_due(views: Views) -> bool:
    """The account's sample run has not happened: every one of its samples waits for a run (or a person)."""
    states = [v.status for v in views.values() if v]
    return S.SCHEDULED in states and all(s in (S.SCHEDULED, S.ON_HOLD) for s in states)


def _not_due(views: Views) -> str:
    states = {v.status for v in views.values() if v}
    if states - {S.RECEIVED, S.VALIDATED, S.POSTED, S.AWAITING_APPROVAL, S.SCHEDULED, S.ON_HOLD}:
        return "no sample waits for its first payment run (an earlier `up` ran it)"
    return f"its samples are not all SCHEDULED yet ({', '.join(sorted(s.value for s in states)) or 'no status'})"


async def start_sample_runs(client: Client, task_queue: str, bank_url: str,
                            views_by_account: dict[str, Views]) -> list[WorkflowHandle]:
    """One sample run per paying account (ACME's first), each started once."""
    runs = []
    for account in sorted(views_by_account, key=lambda a: (a != "ACME", a)):
        run = await start_sample_run(client, task_queue, bank_url, account, views_by_account[account])
        if run is not None:
            runs.append(run)
    return runs


async def start_sample_run(client: Client, task_queue: str, bank_url: str, account: str,
                           views: Views) -> WorkflowHandle | None:
    """The account's sample run, dated by the bank's clock; None when it already happened or its
    samples do not wait for it."""
    run_id = payment_run_workflow_id(account)
    if not run_is_due(views):
        print(f"  payment run  {run_id}: skipped, {_not_due(views)}", flush=True)
        return None
    run_date = await bank_today(bank_url)
    # Requested by treasury.tom of the stack's development issuer, whose keys the worker trusts.
    issuer = development_issuer(environment="development", dev_dir=identity_dev_dir())
    token = issuer.issue("treasury.tom", workflow_id=run_id, decision="request_run", now=datetime.now(UTC))
    request = PaymentRunRequest(paying_account_id=account, run_date=run_date, horizon_days=60, token=token)
    try:
        handle = await client.start_workflow(
            RUN_TYPE, request, id=run_id, task_queue=task_queue, result_type=PaymentRunSummary,
            # A closed run under this id is a run that happened: never a second sample run.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"sample run: {account} pays what falls due by {run_date + timedelta(days=60)}")
    except WorkflowAlreadyStartedError:
        print(f"  payment run  {run_id}: skipped, it already ran (or runs) on this stack", flush=True)
        return None
    print(f"  payment run  {run_id} started: {account}, run date {request.run_date} (the bank's), "
          f"horizon 60 days", flush=True)
    return handle


async def await_run(handle: WorkflowHandle, check_alive) -> PaymentRunSummary | None:
    deadline = time.monotonic() + RUN_TIMEOUT
    task = asyncio.ensure_future(handle.result())
    try:
        while not task.done():
            check_alive()
            if time.monotonic() > deadline:
                print(f"  payment run  {handle.id} not finished after {RUN_TIMEOUT:.0f}s; see the Web UI", flush=True)
                return None
            await asyncio.wait([task], timeout=0.5)
        summary: PaymentRunSummary = task.result()
    except (WorkflowFailureError, RPCError) as err:  # reported; the stack stays up to look at it
        print(f"  payment run  {handle.id} failed: {err.cause if isinstance(err, WorkflowFailureError) else err}",
              flush=True)
        return None
    finally:
        task.cancel()
    refused = "".join(f"\n      refused {k}: {v}" for k, v in summary.refused.items())
    print(f"  payment run  {summary.run_key} (ERP run {summary.payment_run_id}): "
          f"{summary.paid_invoices} payments sent, "
          f"{summary.total} {summary.currency}, file {', '.join(summary.message_ids) or '-'}"
          + (f"; file refused: {summary.file_rejected}" if summary.file_rejected else "") + refused, flush=True)
    return summary


async def _poke(inbox: WorkflowHandle | None) -> None:
    """Ask the inbox to read the mailbox now rather than at its next poll."""
    if inbox is not None:
        try:
            await inbox.signal("poll_now")
        except Exception:  # noqa: BLE001 - it polls by itself anyway
            pass


def _done(views: Views, awaited: set[str]) -> bool:
    return all(views.get(i) is not None and views[i].status in AT_REST for i in awaited)  # type: ignore[union-attr]


async def _settle_step(handles: dict[str, WorkflowHandle], awaited: set[str], check_alive) -> Views:
    """Read the samples until the awaited ones are at rest, or nothing moved for QUIET_SECONDS
    while none of them is in a state that moves by itself."""
    started = last_change = time.monotonic()
    seen: dict[str, str] = {}
    while True:
        check_alive()
        views = {wf_id: await read_status(h) for wf_id, h in handles.items()}
        labels = {k: v.status.value if v else "?" for k, v in views.items()}
        now = time.monotonic()
        if labels != seen:
            seen, last_change = labels, now
        moving = any(views[i] is None or views[i].status in MOVING for i in awaited)  # type: ignore[union-attr]
        if _done(views, awaited) or now - started > STEP_TIMEOUT or (now - last_change >= QUIET_SECONDS and not moving):
            return views
        await asyncio.sleep(0.5)


async def drive_to_outcome(handles: dict[str, WorkflowHandle], awaited: set[str], bank_url: str, state_dir: Path,
                           inbox: WorkflowHandle | None, check_alive, first_step: str | None) -> tuple[Views, bool]:
    """Advance the bank a day at a time until every awaited sample (workflow ids) is at rest
    (COMPLETED, or waiting for a person), printing the table of all after each step. No advance
    when they are at rest already (a resumed stack: the table above says where they stand)."""
    await _poke(inbox)
    step = first_step
    for advances in range(MAX_ADVANCES + 1):
        views = await _settle_step(handles, awaited, check_alive)
        if step is None and _done(views, awaited):
            print("  bank clock   not advanced: no sample waits for the bank", flush=True)
            return views, True
        print(f"\n{step or 'where the samples stand'}\n" + format_table([status_row(v) for v in views.values() if v]),
              flush=True)
        if _done(views, awaited):
            return views, True
        if advances == MAX_ADVANCES:
            break
        moved = await advance_bank_day(bank_url)
        save_bank_clock(bank_url, state_dir)
        crossed = ", ".join(moved.get("businessDaysCrossed") or []) or "none"
        step = (f"bank clock advanced one day ({advances + 1}/{MAX_ADVANCES}): "
                f"{moved['from'][:16]} -> {moved['to'][:16]}, business days crossed: {crossed}")
        await _poke(inbox)
    print(f"\nsamples still wait for the bank after {MAX_ADVANCES} bank days; see the Web UI", flush=True)
    return views, False
