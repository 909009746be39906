"""Every verified decision reaches the audit log (architecture invariant 13). A decision is taken
in an update handler, which must answer at once, so the append runs as a task of the workflow:
through the case machinery like every call (invariant 12), keyed by the workflow id and the
token's id so a retry finds the entry already there. The workflow does not end or continue as new
while an append is in flight (`idle`, `drained`), so no decision is left out of the chain."""

import asyncio
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.decision_audit import DecisionAuditActivities
    from canonical.audit import AuditKind, AuditRecord
    from canonical.decision_record import DecisionRecord
    from workflows import activity_options as opts
    from workflows import patch_generation
    from workflows.counterpart_calls import LOCAL_ACTIVITIES_PATCH, OutageListener, call

DECISION_AUDIT_PATCH = "decision-audit-v1"


class DecisionAudit:
    def __init__(self, outages: OutageListener, invoice_key: str | None = None,
                 statuses_held: Callable[[], AbstractContextManager[None]] | None = None) -> None:
        """`statuses_held`: a lifecycle's appends run as local activities (a keyed write to our own
        store) inside this context (workflows/lifecycle_state.py); others' as normal ones."""
        self._outages, self._invoice_key, self._statuses_held = outages, invoice_key, statuses_held
        self._writes: list[asyncio.Task[None]] = []

    def add(self, record: DecisionRecord) -> None:
        """Called where the decision is recorded in the workflow's state."""
        if not patch_generation.has(DECISION_AUDIT_PATCH):
            return  # a history from before the audit log: nothing was appended then
        self._writes.append(asyncio.get_running_loop().create_task(self._append(record)))

    def idle(self) -> bool:
        return all(write.done() for write in self._writes)

    async def drained(self) -> None:
        await workflow.wait_condition(self.idle)

    async def _append(self, record: DecisionRecord) -> None:
        # A token is used once per workflow; a record without one (a verdict on a start input)
        # is named by its action and moment, both fixed in history.
        ref = record.token_id or f"{record.action}@{record.at.isoformat()}"
        entry = AuditRecord(
            key=f"{workflow.info().workflow_id}/{ref}", invoice_key=self._invoice_key, kind=AuditKind.DECISION,
            action=record.decision or record.action.split(" ")[0], actor=record.who,
            verified_by=record.verified_by or "unverified",
            before=None if record.before is None else {"state": record.before},
            after={"state": record.after, "decision": record.action}, occurred_at=record.at)
        local = self._statuses_held is not None and patch_generation.has(LOCAL_ACTIVITIES_PATCH)
        with self._statuses_held() if self._statuses_held and local else nullcontext():
            await call(DecisionAuditActivities.record_decision, entry,
                       summary=f"audit log: {entry.action} by {record.who}", via=opts.TREASURY,
                       outages=self._outages, local=local)
