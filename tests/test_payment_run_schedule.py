"""Treasury's daily payment run as a Temporal Schedule: the run date is the day it starts."""

from decimal import Decimal

import pytest

from canonical.payment_run import PaymentRunRequest, PaymentRunSummary
from tests.helpers import new_worker
from tests.schedules import run_scheduled_once
from workflows.payment_run import PaymentRun, payment_run_workflow_id


@pytest.mark.clock_sensitive  # a run against the session's mock-bank
async def test_scheduled_payment_run_starts_and_ends_cleanly(client, sap_server, bank_server, store):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        run, summary = await run_scheduled_once(
            client, PaymentRun.run, PaymentRunRequest(paying_account_id="ACME", horizon_days=3),
            payment_run_workflow_id("ACME"), worker.task_queue, "0 6 * * 1-5", PaymentRunSummary)
    assert run.id.startswith("payment-run-ACME-")
    assert summary.paid_invoices == 0 and summary.run_key.startswith("ACME-")
    # Requested by the Schedule itself (no person's token), under the worker's release limit.
    assert summary.requested_by is not None and summary.requested_by.startswith("schedule:"), summary
    assert summary.release_above == Decimal("100000"), summary
