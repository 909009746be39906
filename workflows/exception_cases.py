"""Opening, escalating and closing exception cases inside a lifecycle. Deterministic: time
comes from workflow.now(), ids from the business key and a counter."""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.exceptions import ExceptionCase, ExceptionOwner, Severity, owner_of
    from canonical.lifecycle_snapshot import MAX_CLOSED_CASES, CaseBookSnapshot
    from canonical.masking import mask_bank_details
    from telemetry import finance

from workflows.outage_board import OutageBoard

_ESCALATION = {Severity.LOW: Severity.MEDIUM, Severity.MEDIUM: Severity.HIGH, Severity.HIGH: Severity.CRITICAL}


class CaseBook:
    """The open case of one lifecycle that needs a person and holds its flow (at most one at a
    time), side cases that need a person without holding the flow (a paid-twice alert, a
    rejection the bank has not confirmed, a malformed operator input), the closed ones, and
    the outage cases finsync opens and closes itself (`outages`)."""

    def __init__(self, business_key: str, sla: timedelta, stage: Callable[[], str] = lambda: "") -> None:
        self._key = business_key
        self._sla = sla
        self._seq = 0
        self.open: ExceptionCase | None = None
        self.closed: list[ExceptionCase] = []
        self.outages = OutageBoard(business_key, stage)
        self.side: dict[str, ExceptionCase] = {}

    def shown(self) -> ExceptionCase | None:
        """The case people see first: a critical side case, the one holding the flow, another
        side case, else an outage."""
        critical = [c for c in self.side.values() if c.severity == Severity.CRITICAL]
        return next(iter(critical), None) or self.open or next(iter(self.side.values()), None) or self.outages.first()

    def all_closed(self) -> list[ExceptionCase]:
        return sorted([*self.closed, *self.outages.closed], key=lambda c: c.resolved_at or c.opened_at)

    def open_side(self, error_type: str, reason: str, owner: ExceptionOwner,
                  severity: Severity = Severity.HIGH) -> ExceptionCase:
        self._seq += 1
        now = workflow.now()
        case = ExceptionCase(case_id=f"{self._key}#{self._seq}", type=error_type, owner=owner, severity=severity,
                             reason=mask_bank_details(reason)[:1000], opened_at=now, sla_due_at=now + self._sla)
        self.side[case.case_id] = case
        return case

    def close_side(self, case_id: str, resolved_by: str, resolution: str) -> ExceptionCase | None:
        case = self.side.pop(case_id, None)
        if case is None:
            return None
        now = workflow.now()
        done = case.model_copy(update={"resolved_at": now, "resolved_by": resolved_by,
                                       "resolution": mask_bank_details(resolution)})
        self.closed.append(done)
        finance.case_closed(done.type, done.owner.value, now - done.opened_at, resolved_by)
        return done

    def side_of_type(self, error_type: str) -> list[ExceptionCase]:
        return [c for c in self.side.values() if c.type == error_type]

    def open_case(self, error_type: str | None, reason: str, severity: Severity = Severity.MEDIUM,
                  owner: ExceptionOwner | None = None) -> ExceptionCase:
        self._seq += 1
        now = workflow.now()
        self.open = ExceptionCase(
            case_id=f"{self._key}#{self._seq}",
            type=error_type or "UnexpectedFailure",
            owner=owner or owner_of(error_type),
            severity=severity,
            # Case reasons are shown in the Web UI and kept in plain history (invariant 9).
            reason=mask_bank_details(reason),
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
        now = workflow.now()
        done = self.open.model_copy(update={"resolved_at": now, "resolved_by": resolved_by,
                                            "resolution": mask_bank_details(resolution)})
        self.closed.append(done)
        self.open = None
        finance.case_closed(done.type, done.owner.value, now - done.opened_at, resolved_by)
        return done

    def snapshot(self) -> CaseBookSnapshot:
        board = self.outages
        return CaseBookSnapshot(sequence=self._seq, open=self.open, side=list(self.side.values()),
                                closed=self.closed[-MAX_CLOSED_CASES:], outage_sequence=board.sequence,
                                outages_open=board.open, outages_closed=board.closed[-MAX_CLOSED_CASES:])

    def restore(self, snap: CaseBookSnapshot) -> None:
        """The same cases under the same ids, SLAs and escalations; new ids go on from the counter."""
        self._seq, self.open, self.closed = snap.sequence, snap.open, list(snap.closed)
        self.side = {case.case_id: case for case in snap.side}
        self.outages.restore(snap.outage_sequence, snap.outages_open, snap.outages_closed)
