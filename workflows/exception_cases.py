"""Opening, escalating and closing exception cases inside a lifecycle. Deterministic: time
comes from workflow.now(), ids from the business key and a counter."""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.exceptions import ExceptionCase, ExceptionOwner, Severity, owner_of
    from telemetry import finance
    from workflows.outage_board import OutageBoard

_ESCALATION = {Severity.LOW: Severity.MEDIUM, Severity.MEDIUM: Severity.HIGH, Severity.HIGH: Severity.CRITICAL}


class CaseBook:
    """The open case of one lifecycle that needs a person (at most one at a time), the closed
    ones, and beside them the outage cases finsync opens and closes itself (`outages`)."""

    def __init__(self, business_key: str, sla: timedelta, stage: Callable[[], str] = lambda: "") -> None:
        self._key = business_key
        self._sla = sla
        self._seq = 0
        self.open: ExceptionCase | None = None
        self.closed: list[ExceptionCase] = []
        self.outages = OutageBoard(business_key, stage)

    def shown(self) -> ExceptionCase | None:
        """The case people see first: the one waiting for a person, else an outage."""
        return self.open or self.outages.first()

    def all_closed(self) -> list[ExceptionCase]:
        return sorted([*self.closed, *self.outages.closed], key=lambda c: c.resolved_at or c.opened_at)

    def open_case(self, error_type: str | None, reason: str, severity: Severity = Severity.MEDIUM,
                  owner: ExceptionOwner | None = None) -> ExceptionCase:
        self._seq += 1
        now = workflow.now()
        self.open = ExceptionCase(
            case_id=f"{self._key}#{self._seq}",
            type=error_type or "UnexpectedFailure",
            owner=owner or owner_of(error_type),
            severity=severity,
            reason=reason,
            opened_at=now,
            sla_due_at=now + self._sla,
        )
        if self._seq == 1:
            finance.invoice_needs_a_person()
        return self.open

    def escalate(self) -> ExceptionCase:
        assert self.open is not None
        self.open = self.open.model_copy(
            update={
                "escalated": True,
                "severity": _ESCALATION.get(self.open.severity, Severity.CRITICAL),
                "sla_due_at": workflow.now() + self._sla,
            }
        )
        return self.open

    def close(self, resolved_by: str, resolution: str) -> ExceptionCase:
        assert self.open is not None
        done = self.open.model_copy(
            update={"resolved_at": workflow.now(), "resolved_by": resolved_by, "resolution": resolution}
        )
        self.closed.append(done)
        self.open = None
        finance.case_closed(done.type, done.owner.value, done.resolved_at - done.opened_at, resolved_by)
        return done
