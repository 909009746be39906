"""`python -m cli schedules apply|show`: the periodic work as Temporal Schedules, created or
brought up to date in one idempotent step (a deploy job runs it on every release), plus the
long-running bank inbox started if it is not running.

The schedules are the README's `temporal schedule create` commands, same ids, inputs and
policies, one payment run per paying account and one reconciliation per company code of
FINSYNC_PAYING_ACCOUNTS (the embedded stack's ACME and 1710 by default):

    payment-run-<account>-daily      PaymentRun        06:00 Mon-Fri, overlap Skip
    vendor-master-sync-hourly        VendorMasterSync  :15 every hour, overlap Skip
    reconciliation-<cc>-daily        Reconciliation    05:30 daily, overlap Skip, catch-up 1 h

Inputs are plain JSON (what `--input` takes), checked against the workflows' models here, so a
typo fails the apply instead of every scheduled run. A scheduled payment run carries no token and
no release limit: it is requested by `schedule:<schedule id>` (Temporal marks what its scheduler
starts) and waits for a release above the worker's `release_above` (workflows/run_release.py).
An existing schedule is updated in place and keeps its state: one an operator paused stays
paused, with its note.

The bank inbox is not a Schedule: it runs for good (continuing as new) under the fixed id
`bank-inbox` that operators address (`acknowledge_problems`), and a Schedule appends the start
time to its workflow ids. `apply` starts it when it is not running and leaves a running one alone.
"""

import argparse
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from canonical.inbox import BankInboxConfig
from canonical.payment_run import PaymentRunRequest
from canonical.reconciliation import ReconciliationRequest
from canonical.vendors import VendorSyncRequest
from settings import Settings

INBOX_ID, INBOX_INPUT = "bank-inbox", {"poll_seconds": 30}


@dataclass(frozen=True)
class Planned:
    schedule_id: str
    workflow_type: str
    workflow_id: str
    input: dict[str, Any]
    model: type[BaseModel]
    cron: str
    catchup: timedelta | None = None
    role: str = "payments"  # whose task queue the scheduled workflow runs on (Settings.queue_of)
    overlap: ScheduleOverlapPolicy = field(default=ScheduleOverlapPolicy.SKIP)


def planned(settings: Settings) -> list[Planned]:
    plans = [Planned(f"payment-run-{account}-daily", "PaymentRun", f"payment-run-{account}",
                     {"paying_account_id": account, "horizon_days": 3}, PaymentRunRequest, "0 6 * * 1-5")
             for account in sorted(settings.paying_accounts)]
    plans.append(Planned("vendor-master-sync-hourly", "VendorMasterSync", "vendor-master-sync", {},
                         VendorSyncRequest, "15 * * * *", role="back-office"))
    # One reconciliation per company code, with the first of its paying accounts (by id).
    first_account: dict[str, str] = {}
    for account_id, account in sorted(settings.paying_accounts.items()):
        first_account.setdefault(account.company_code, account_id)
    plans += [Planned(f"reconciliation-{cc}-daily", "Reconciliation", f"reconciliation-{cc}",
                      {"company_code": cc, "paying_account_id": account}, ReconciliationRequest, "30 5 * * *",
                      catchup=timedelta(hours=1), role="back-office") for cc, account in sorted(first_account.items())]
    for plan in plans:
        plan.model.model_validate(plan.input)  # a wrong input fails here, not in every scheduled run
    return plans


def schedule_of(plan: Planned, task_queue: str, time_zone: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(plan.workflow_type, plan.input, id=plan.workflow_id, task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[plan.cron], time_zone_name=time_zone),
        # No catch-up window given: the SDK's default, as the README's commands leave the CLI's.
        policy=SchedulePolicy(overlap=plan.overlap, catchup_window=plan.catchup or SchedulePolicy().catchup_window),
    )


async def apply(client: Client, settings: Settings, time_zone: str = "UTC") -> list[str]:
    """Create each schedule, or update the existing one in place; then make sure the inbox runs.
    Returns one line per item, "created"/"updated"/"started"/"running"."""
    lines = []
    for plan in planned(settings):
        schedule = schedule_of(plan, settings.queue_of(plan.role), time_zone)
        try:
            await client.create_schedule(plan.schedule_id, schedule)
            lines.append(f"created  {plan.schedule_id}")
        except ScheduleAlreadyRunningError:
            def keep_state(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                # Paused by an operator, with a note: stays so. Everything else is ours.
                new.state = current.description.schedule.state
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(plan.schedule_id).update(keep_state)
            lines.append(f"updated  {plan.schedule_id}")
    lines.append(await ensure_inbox(client, settings.queue_of("payments")))
    return lines


async def ensure_inbox(client: Client, task_queue: str) -> str:
    BankInboxConfig.model_validate(INBOX_INPUT)
    try:  # only to say "started" or "running": the start below decides, and joins a running one
        running = (await client.get_workflow_handle(INBOX_ID).describe()).status == WorkflowExecutionStatus.RUNNING
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        running = False
    await client.start_workflow(
        "BankInbox", INBOX_INPUT, id=INBOX_ID, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary="reads the bank's mailbox, signals the lifecycles, posts statements to the ERP")
    return f"{'running ' if running else 'started '} {INBOX_ID}"


def show(settings: Settings, time_zone: str) -> list[str]:
    import json

    lines = [f"{p.schedule_id}: {p.workflow_type} id={p.workflow_id} queue={settings.queue_of(p.role)} cron='{p.cron}' "
             f"tz={time_zone} overlap={p.overlap.name} catchup={p.catchup or 'default'} input={json.dumps(p.input)}"
             for p in planned(settings)]
    return [*lines, f"{INBOX_ID}: BankInbox (not a schedule: started if not running) input={json.dumps(INBOX_INPUT)}"]


def add_parser(sub: "argparse._SubParsersAction") -> None:
    parser = sub.add_parser("schedules", help="create or update the Temporal Schedules (payment runs, vendor sync, "
                                              "reconciliation) and start the bank inbox, idempotently")
    parser.add_argument("action", choices=["apply", "show"], help="apply: create/update; show: print the plan only")
    parser.add_argument("--time-zone", default="UTC", help="IANA time zone of the cron times (default UTC)")


async def run(args: argparse.Namespace) -> int:
    from settings import get_settings
    from worker import connect

    settings = get_settings()
    if args.action == "show":
        print("\n".join(show(settings, args.time_zone)))
        return 0
    client = await connect(settings)
    for line in await apply(client, settings, args.time_zone):
        print(line, flush=True)
    return 0
