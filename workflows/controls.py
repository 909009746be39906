"""Controls in workflows come from the worker's configuration (architecture invariant 8), read
once through an activity so the value is in history: a start input, memo or run request can not
lower them, and a replay uses the controls the workflow ran under."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.controls import ControlActivities
    from canonical.controls import ControlPolicy

from workflows import activity_options as opts
from workflows.counterpart_calls import Counterpart, OutageListener, call


class _LoggedOutages:
    """For a caller without a case board: the failure shows in the worker log and the Web UI's
    pending activity (retried without end), which is all a configuration read can fail with."""

    def outage_opened(self, via: Counterpart, what: str, error: str) -> None:
        workflow.logger.error("%s: %s failing: %s", what, via.name, error)

    def outage_persists(self, via: Counterpart, what: str, error: str) -> None:
        workflow.logger.error("%s: %s still failing: %s", what, via.name, error)

    def outage_closed(self, via: Counterpart, what: str) -> None:
        workflow.logger.info("%s: %s answers again", what, via.name)


async def read_controls(outages: OutageListener | None = None) -> ControlPolicy:
    return await call(ControlActivities.read_controls, summary="controls from the worker's configuration",
                      via=opts.CONFIGURATION, outages=outages or _LoggedOutages(), result_type=ControlPolicy)
