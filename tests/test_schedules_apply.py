"""`python -m cli schedules apply` (cli/schedules.py) against a dev server of its own (the
schedules run on the wall clock: one firing during the test must not start a workflow on the
session's server): twice, the same schedules with the README's ids, workflow types, inputs,
policies and each kind's task queue; a paused schedule stays paused; the bank inbox is started
once and then left running."""

import asyncio
import json
import uuid

import pytest_asyncio
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from cli.schedules import INBOX_ID, apply, planned
from settings import DEFAULT_PAYING_ACCOUNTS, Settings
from tests.conftest import TEMPORAL_BIN
from tests.helpers import run_module
from tests.run_helpers import private_temporal

EXPECTED = {
    "payment-run-ACME-daily": ("PaymentRun", "payment-run-ACME", {"paying_account_id": "ACME", "horizon_days": 3},
                               lambda t: t.hour == 6 and t.minute == 0 and t.weekday() < 5),
    "vendor-master-sync-hourly": ("VendorMasterSync", "vendor-master-sync", {}, lambda t: t.minute == 15),
    "reconciliation-1710-daily": ("Reconciliation", "reconciliation-1710",
                                  {"company_code": "1710", "paying_account_id": "ACME"},
                                  lambda t: (t.hour, t.minute) == (5, 30)),
}
ROLE = {"payment-run-ACME-daily": "payments", "vendor-master-sync-hourly": "back-office",
        "reconciliation-1710-daily": "back-office"}


@pytest_asyncio.fixture
async def own_client(test_settings):
    async with private_temporal(test_settings, TEMPORAL_BIN) as client:
        yield client


async def describe_all(client: Client, queues: dict[str, str]) -> dict:
    seen = {}
    for schedule_id in EXPECTED:
        d = await client.get_schedule_handle(schedule_id).describe()
        action = d.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.task_queue == queues[ROLE[schedule_id]]
        arg = (await client.data_converter.decode(action.args, [dict]))[0] if action.args else None
        # The server keeps a cron as calendars: its next times show what it understood.
        seen[schedule_id] = (action.workflow, action.id, arg, tuple(d.info.next_action_times),
                             d.schedule.policy.overlap, d.schedule.policy.catchup_window, d.schedule.state.paused)
    return seen


async def test_apply_twice_gives_the_readme_schedules_and_one_inbox(own_client: Client):
    client, temporal_address = own_client, own_client.service_client.config.target_host
    tag = uuid.uuid4().hex[:8]  # no worker polls these queues: nothing scheduled ever runs
    queues = {"lifecycles": f"lifecycles-{tag}", "payments": f"payments-{tag}", "back-office": f"back-office-{tag}"}
    # The README's schedules of one account (ACME, so 1710): the hybrid sample adds its other accounts' alike.
    env = {"FINSYNC_TASK_QUEUE": queues["lifecycles"], "FINSYNC_PAYMENTS_TASK_QUEUE": queues["payments"],
           "FINSYNC_BACK_OFFICE_TASK_QUEUE": queues["back-office"],
           "FINSYNC_PAYING_ACCOUNTS": json.dumps({"ACME": DEFAULT_PAYING_ACCOUNTS["ACME"].model_dump(mode="json")})}
    settings = Settings(task_queue=queues["lifecycles"], payments_task_queue=queues["payments"],
                        back_office_task_queue=queues["back-office"],
                        paying_accounts={"ACME": DEFAULT_PAYING_ACCOUNTS["ACME"]})
    assert [p.schedule_id for p in planned(settings)] == list(EXPECTED)
    try:
        # The first apply as an operator runs it: the real command in its own process.
        first = await asyncio.to_thread(run_module, "cli", "schedules", "apply", address=temporal_address,
                                        env=env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert first.stdout.split() == [*(w for s in EXPECTED for w in ("created", s)), "started", INBOX_ID]
        after_first = await describe_all(client, queues)
        for schedule_id, (wf_type, wf_id, arg, when) in EXPECTED.items():
            got = after_first[schedule_id]
            assert got[:3] == (wf_type, wf_id, arg), got
            assert got[3] and all(when(t) for t in got[3]), got[3]  # UTC, the default time zone
            assert got[4] == ScheduleOverlapPolicy.SKIP
        assert after_first["reconciliation-1710-daily"][5].total_seconds() == 3600

        # An operator pauses one; the next release's apply changes nothing else and keeps it paused.
        await client.get_schedule_handle("vendor-master-sync-hourly").pause(note="SAP upgrade weekend")
        second = await apply(client, settings)
        assert second == [*(f"updated  {s}" for s in EXPECTED), f"running  {INBOX_ID}"]
        after_second = await describe_all(client, queues)
        for schedule_id in EXPECTED:
            paused = schedule_id == "vendor-master-sync-hourly"
            assert after_second[schedule_id][:3] == after_first[schedule_id][:3]
            assert after_second[schedule_id][4:] == (*after_first[schedule_id][4:6], paused)
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{INBOX_ID}'")]
        assert len(runs) == 1 and runs[0].task_queue == queues["payments"]  # started once, then left alone
    finally:
        for schedule_id in EXPECTED:
            await client.get_schedule_handle(schedule_id).delete()
        await client.get_workflow_handle(INBOX_ID).terminate(reason="test of cli schedules apply ends")
