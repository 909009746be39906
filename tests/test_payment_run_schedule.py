"""Treasury's daily payment run as a Temporal Schedule: the run date is the day it starts."""

import uuid

from temporalio.client import Schedule, ScheduleActionStartWorkflow, ScheduleOverlapPolicy, SchedulePolicy, ScheduleSpec

from canonical.payment_run import PaymentRunRequest, PaymentRunSummary
from tests.helpers import assert_eventually, new_worker
from workflows.payment_run import PaymentRun, payment_run_workflow_id


async def test_scheduled_payment_run_starts_and_ends_cleanly(client, sap_server, bank_server, store):
    schedule_id = f"payment-run-ACME-daily-{uuid.uuid4().hex[:6]}"
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        schedule = await client.create_schedule(schedule_id, Schedule(
            action=ScheduleActionStartWorkflow(PaymentRun.run, PaymentRunRequest(paying_account_id="ACME", horizon_days=3),
                                               id=payment_run_workflow_id("ACME"), task_queue=worker.task_queue),
            spec=ScheduleSpec(cron_expressions=["0 6 * * 1-5"]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        ))
        try:
            await schedule.trigger()

            async def finished():
                runs = [w async for w in client.list_workflows(f"TemporalScheduledById = '{schedule_id}'")]
                assert runs and runs[0].status.name == "COMPLETED", runs
                return runs[0]

            run = await assert_eventually(finished, timeout=20)
            summary = await client.get_workflow_handle(run.id, run_id=run.run_id, result_type=PaymentRunSummary).result()
        finally:
            await schedule.delete()
    assert run.id.startswith("payment-run-ACME-")
    assert summary.paid_invoices == 0 and summary.run_key.startswith("ACME-")
