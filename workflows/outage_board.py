"""The outage cases of one workflow, one per counterpart at a time: opened when a call has
failed for its counterpart's outage SLA, escalated at each further SLA, closed by finsync
itself when the call succeeds (architecture invariant 12). Deterministic: time from
workflow.now(), ids from the workflow's business key and a counter."""

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.exceptions import ExceptionCase, Severity
    from canonical.masking import mask_bank_details
    from telemetry import finance

from workflows import search_attributes as sa
from workflows.counterpart_calls import Counterpart

_ESCALATION = {Severity.LOW: Severity.MEDIUM, Severity.MEDIUM: Severity.HIGH, Severity.HIGH: Severity.CRITICAL}
CLOSED_BY = "finsync"


class OutageBoard:
    def __init__(self, key: str, stage: Callable[[], str], on_change: Callable[[], None] | None = None) -> None:
        self._key, self._stage, self._on_change = key, stage, on_change
        self._seq = 0
        self.open: dict[str, ExceptionCase] = {}  # by counterpart name
        self.closed: list[ExceptionCase] = []

    def outage_opened(self, via: Counterpart, what: str, error: str) -> None:
        self._seq += 1
        now = workflow.now()
        case = ExceptionCase(
            case_id=f"{self._key}#outage-{self._seq}", type=via.case_type, owner=via.owner,
            reason=mask_bank_details(f"{via.name} has not answered for {_hours(via)}: {what}: {error}")[:1000],
            opened_at=now, sla_due_at=now + via.outage_sla,
        )
        self.open[via.name] = case
        finance.exception_raised(self._stage(), case.type, case.owner.value)
        workflow.logger.warning("outage case %s for %s: %s", case.case_id, case.owner.value, case.reason)
        self._changed()

    def outage_persists(self, via: Counterpart, what: str, error: str) -> None:
        case = self.open.get(via.name)
        if case is None:
            self.outage_opened(via, what, error)
            return
        self.open[via.name] = case.model_copy(update={
            "escalated": True, "severity": _ESCALATION.get(case.severity, Severity.CRITICAL),
            "sla_due_at": workflow.now() + via.outage_sla,
            "reason": mask_bank_details(f"{case.reason.split(' (still ')[0]} (still: {error})")[:1000],
        })
        self._changed()

    def outage_closed(self, via: Counterpart, what: str) -> None:
        case = self.open.pop(via.name, None)
        if case is None:
            return
        now = workflow.now()
        done = case.model_copy(update={"resolved_at": now, "resolved_by": CLOSED_BY,
                                       "resolution": f"{via.name} answered again ({what})"})
        self.closed.append(done)
        finance.case_closed(done.type, done.owner.value, now - done.opened_at, CLOSED_BY)
        workflow.logger.info("outage case %s closed: %s answered again", done.case_id, via.name)
        self._changed()

    @property
    def sequence(self) -> int:
        return self._seq

    def restore(self, sequence: int, open_cases: dict[str, ExceptionCase], closed: list[ExceptionCase]) -> None:
        """After a continue-as-new: the same cases; no telemetry, they were counted when opened."""
        self._seq, self.open, self.closed = sequence, dict(open_cases), list(closed)

    def first(self) -> ExceptionCase | None:
        """The outage to show when only one fits (search attributes): the oldest."""
        return min(self.open.values(), key=lambda c: c.opened_at, default=None)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()


def _hours(via: Counterpart) -> str:
    seconds = via.outage_sla.total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"


def show_case(case: ExceptionCase | None) -> None:
    """ExceptionOwner/ExceptionType of a workflow that is not a lifecycle: what treasury and
    integration ops search for (`temporal workflow list --query 'ExceptionOwner="…"'`)."""
    if case is None:
        workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_unset(), sa.EXCEPTION_TYPE.value_unset()])
    else:
        workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set(case.owner.value),
                                           sa.EXCEPTION_TYPE.value_set(case.type)])
