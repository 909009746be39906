"""The finance team's controls from the worker's configuration, for workflows to record once
(canonical/controls.py). A local activity: no counterpart, nothing to retry against."""

from temporalio import activity

from canonical.controls import ControlPolicy


class ControlActivities:
    def __init__(self, policy: ControlPolicy) -> None:
        self._policy = policy

    @activity.defn
    async def read_controls(self) -> ControlPolicy:
        return self._policy
