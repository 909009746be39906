"""The lifecycle's one armed deadline (workflows/deadline_alarm.py) on the time-skipping test
server: a short wait after a long one still times out on time although the long wait's timer
is left pending, and a wait that a pending timer covers re-arms when that timer fires early."""

import uuid
from datetime import timedelta

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from workflows.deadline_alarm import DeadlineAlarm

HOUR = timedelta(hours=1)


@workflow.defn(sandboxed=False)
class ThreeWaits:
    """Ten days for a signal that comes, one hour for nothing, then 20 days for nothing."""

    def __init__(self) -> None:
        self._alarm = DeadlineAlarm()
        self._signalled = False

    @workflow.signal
    def arrived(self) -> None:
        self._signalled = True

    @workflow.run
    async def run(self) -> list[float]:
        start = workflow.now()
        marks: list[float] = []
        for wake, timeout in ((lambda: self._signalled, 240 * HOUR), (lambda: False, HOUR),
                              (lambda: False, 480 * HOUR)):
            began = workflow.now()
            answered = await self._alarm.wait(wake, began + timeout, f"wait of {timeout}")
            marks += [float(answered), (workflow.now() - began) / HOUR]
        marks.append((workflow.now() - start) / HOUR)
        return marks


async def test_short_wait_after_a_long_one_times_out_on_time(skipping_env):
    client = skipping_env.client
    async with Worker(client, task_queue=f"tq-{uuid.uuid4()}", workflows=[ThreeWaits]) as worker:
        handle = await client.start_workflow(ThreeWaits.run, id=f"alarm-{uuid.uuid4()}", task_queue=worker.task_queue)
        await handle.signal(ThreeWaits.arrived)
        long_answered, _, short_answered, short_hours, last_answered, last_hours, total = await handle.result()
        history = await handle.fetch_history()
    assert long_answered == 1.0  # the signal ended the ten-day wait; its timer stays armed
    # The one-hour wait started its own timer (the armed one fires later) and timed out after an hour.
    assert short_answered == 0.0 and 1 <= short_hours < 1.1, short_hours
    # The 20-day wait was covered by the ten-day timer: it fired, the wait re-armed for the rest.
    assert last_answered == 0.0 and 480 <= last_hours < 480.1, last_hours
    assert 481 <= total < 481.2, total
    started = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert [round(e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() / HOUR) for e in started] == [
        240, 1, 241]  # the ten-day timer, the hour, then what is left of the 20 days after day ten
    assert [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED] == []
