"""A new lifecycle's start checks as one activity (one billable action instead of two): the
controls of the worker's configuration and the verdict on the start input's tokens, both recorded
in history at once (architecture invariant 8). Neither answer decides whether the other is asked,
and both are the worker's configuration, so they share one call's timeouts and outage case.

`ControlActivities.read_controls` and `StartVerification.verify_start` stay registered: histories
recorded before `admit-invoice-v1`, and payment runs (controls only), call them."""

from temporalio import activity

from activities.decisions import StartVerification
from canonical.controls import ControlPolicy
from canonical.decisions import StartAdmission, StartCheck


class StartChecks:
    def __init__(self, policy: ControlPolicy) -> None:
        self._policy = policy

    @activity.defn
    async def admit_invoice(self, check: StartCheck) -> StartAdmission:
        return StartAdmission(controls=self._policy,
                              verdict=await StartVerification().verify_start(check))
