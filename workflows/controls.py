"""Controls in workflows come from the worker's configuration (architecture invariant 8), read
once as a local activity so the value is in history: a start input, memo or run request can not
lower them, and a replay uses the controls the workflow ran under."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.controls import ControlActivities
    from canonical.controls import ControlPolicy


async def read_controls() -> ControlPolicy:
    # Local and in-process: it can only fail if the worker is broken, which retrying fixes once
    # the worker is replaced; no counterpart outage case applies (invariant 12 covers I/O).
    return await workflow.execute_local_activity_method(
        ControlActivities.read_controls, start_to_close_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)))
