"""Every verified decision reaches the audit log (architecture invariant 13). A decision is taken
in an update handler, which must answer at once, so the append runs as a task of the workflow:
through the case machinery like every call (invariant 12), keyed by the workflow id and the
token's id so a retry finds the entry already there. The workflow does not end or continue as new
while an append is in flight (`idle`, `drained`), so no decision is left out of the chain."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.decision_audit import DecisionAuditActivities
    from canonical.audit import AuditKind, AuditRecord
    from canonical.decision_record import DecisionRecord

from workflows import activity_options as opts
from workflows import patch_generation
from workflows.counterpart_calls import Counterpart, OutageListener, call

DECISION_AUDIT_PATCH = "decision-audit-v1"


class DecisionAudit:
    def __init__(self, outages: OutageListener, invoice_key: str | None = None,
                 lifecycle_call: Callable[..., Awaitable[Any]] | None = None) -> None:
        """`lifecycle_call`: a lifecycle's own `_call`, which runs the append (a keyed write to our
        own store) as a local activity where its run may; other workflows append with a plain call."""
        self._outages, self._invoice_key = outages, invoice_key
        self._call = lifecycle_call or self._plain_call
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
        await self._call(DecisionAuditActivities.record_decision, entry,
                         summary=f"audit log: {entry.action} by {record.who}", via=opts.TREASURY, local=True)

    async def _plain_call(self, activity: Callable, *args: Any, summary: str, via: Counterpart,
                          local: bool) -> Any:
        return await call(activity, *args, summary=summary, via=via, outages=self._outages)
