"""Run a workflow the way production does, from a Temporal Schedule, once."""

import uuid
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    WorkflowExecution,
)

from tests.helpers import assert_eventually


async def run_scheduled_once(client: Client, run_method, arg: Any, workflow_id: str, task_queue: str, cron: str,
                             result_type: type | None = None) -> tuple[WorkflowExecution, Any]:
    """Create the schedule (overlap Skip, as production does), trigger it, wait for the run to
    complete, delete the schedule; returns the run and its result."""
    schedule_id = f"{workflow_id}-schedule-{uuid.uuid4().hex[:6]}"
    schedule = await client.create_schedule(schedule_id, Schedule(
        action=ScheduleActionStartWorkflow(run_method, arg, id=workflow_id, task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    ))
    try:
        await schedule.trigger()

        async def finished():
            runs = [w async for w in client.list_workflows(f"TemporalScheduledById = '{schedule_id}'")]
            assert runs and runs[0].status.name == "COMPLETED", runs
            return runs[0]

        run = await assert_eventually(finished, timeout=30)
        result = await client.get_workflow_handle(run.id, run_id=run.run_id, result_type=result_type).result()
    finally:
        await schedule.delete()
    return run, result
