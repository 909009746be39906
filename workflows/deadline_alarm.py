"""One armed deadline for a lifecycle run instead of a timer started and cancelled at every wait.

Every TIMER_STARTED is a billable action; cancelling one saves nothing and adds an event. A
paid lifecycle waited five or six times (approval, payment-run deadline, file sent, bank answer,
settlement, clearing look), each wait with its own timer, most ended early by a signal or
update. Here a wait only makes sure SOME timer fires at or before its deadline: a timer still
pending from an earlier wait that fires no later is enough, and its firing only wakes the
wait, which looks at the clock and re-arms for what is left. So each wait starts at most one
timer, and a paid lifecycle that runs through its waits within a day starts one or two.

Every wait still has a timer that fires by its deadline (architecture invariant 7), only not
always its own. `workflow.now()` moves only with workflow tasks: a timer firing at the deadline
is what makes the clock read past it. Timers do not carry over a continue-as-new: the new run's
waits arm again from their WaitPoint deadlines. A timer's summary is the wait that started it.
Runs recorded before ONE_ARMED_DEADLINE_PATCH keep a timer per wait (invoice_lifecycle `_wait`).
"""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow

ONE_ARMED_DEADLINE_PATCH = "one-armed-deadline-v1"


class DeadlineAlarm:
    """Timers of one workflow run, never cancelled; `arm` starts one only when none pending fires in time."""

    def __init__(self) -> None:
        self._pending: list[datetime] = []  # when each started timer fires
        self._ringing: set[asyncio.Task[None]] = set()  # held so the event loop does not drop them

    def covers(self, at: datetime) -> bool:
        """A pending timer fires at or before `at`."""
        # Asked by every wait's condition at every activation: min(), not a generator per call.
        return bool(self._pending) and min(self._pending) <= at

    def arm(self, at: datetime, what: str) -> None:
        """Make sure a timer fires at or before `at` (in the future). `what`: the timer's summary in the UI."""
        if self.covers(at):
            return
        self._pending.append(at)
        task = asyncio.get_running_loop().create_task(self._ring(at, at - workflow.now(), what))
        self._ringing.add(task)
        task.add_done_callback(self._ringing.discard)

    async def _ring(self, at: datetime, after: timedelta, what: str) -> None:
        try:
            await workflow.sleep(after, summary=what)
        finally:
            self._pending.remove(at)

    async def wait(self, wake: Callable[[], bool], deadline: datetime, what: str) -> bool:
        """True once `wake()` holds, False once the clock reads `deadline`, like
        `wait_condition(wake, timeout)` without the timer of its own. An earlier timer firing
        (armed by an earlier wait) only wakes this one to arm for the time left."""
        while True:
            if wake():
                return True
            if workflow.now() >= deadline:
                return False
            self.arm(deadline, what)
            await workflow.wait_condition(
                lambda: wake() or workflow.now() >= deadline or not self.covers(deadline))
