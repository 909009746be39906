"""Running payment runs and the bank inbox in tests, and moving the bank's clock until a
lifecycle gets where it should (settlement waits for the next business day)."""

import uuid
from contextlib import asynccontextmanager
from datetime import date

from temporalio.client import Client, WorkflowHandle

from canonical.inbox import BankInboxConfig
from canonical.payment_run import PaymentRunSummary
from tests import bank_admin
from tests.clock import business_today, profile
from tests.helpers import run_request, wait_for_history
from workflows.bank_inbox import BankInbox
from workflows.payment_run import PaymentRun, payment_run_workflow_id


async def pay(client: Client, task_queue: str, run_number: int = 1, run_date: date | None = None,
              account: str = "ACME") -> PaymentRunSummary:
    """A run from `account` dated the profile's business date (the bank's day when the clock was
    pinned); `run_date` a later day asks the bank to execute then (booked only on that day)."""
    request = run_request(payment_run_workflow_id(account), paying_account_id=account,
                          run_date=run_date or business_today(), horizon_days=60, run_number=run_number)
    return await client.execute_workflow(PaymentRun.run, request, id=payment_run_workflow_id(account),
                                         task_queue=task_queue)


def resting_after_acceptance() -> str:
    """Where an accepted payment of a run dated today waits for the bank's next day: SETTLED
    when the bank books it on receipt (a business day before the cut-off; the camt.054 comes at
    once), otherwise ACCEPTED (booked on the settlement day, after an advance)."""
    return "SETTLED" if profile().books_on_receipt else "ACCEPTED"


@asynccontextmanager
async def bank_inbox(client: Client, task_queue: str):
    handle = await client.start_workflow(BankInbox.run, BankInboxConfig(poll_seconds=0.5),
                                         id=f"bank-inbox-{uuid.uuid4().hex[:6]}", task_queue=task_queue)
    try:
        yield handle
    finally:
        await handle.terminate("test done")


async def advance_until(handle: WorkflowHandle, status: str, bank_url: str, max_days: int = 5):
    """Advance the bank one day at a time (weekends included) until the lifecycle has reached
    `status` (its recorded history says so)."""
    for _ in range(max_days):
        try:
            return await wait_for_history(handle, status, timeout=6)
        except AssertionError:
            await bank_admin.advance(bank_url, 1)
    return await wait_for_history(handle, status, timeout=30)  # a loaded machine: the last step may lag
