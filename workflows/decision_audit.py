"""A verified decision is in the audit log before its update answers (architecture invariant 13):
the handler awaits `audit_decision`, which goes through the case machinery like every call
(invariant 12), so a store outage delays the answer under an outage case and loses nothing."""

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.decision_audit import DecisionAuditActivities
    from canonical.audit import AuditKind, AuditRecord
    from identity.tokens import VerifiedPerson
    from workflows import activity_options as opts
    from workflows.counterpart_calls import OutageListener, call

DECISION_AUDIT_PATCH = "decision-audit-v1"


async def audit_decision(person: VerifiedPerson, *, action: str, invoice_key: str | None, outages: OutageListener,
                         before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                         at: datetime | None = None) -> None:
    if not workflow.patched(DECISION_AUDIT_PATCH):
        return  # decisions of histories from before the audit log: nothing to append on replay
    record = AuditRecord(
        key=f"{workflow.info().workflow_id}/{person.token_id}", invoice_key=invoice_key, kind=AuditKind.DECISION,
        action=action, actor=person.subject, verified_by=person.verified_by, before=before, after=after,
        occurred_at=at or workflow.now())
    await call(DecisionAuditActivities.record_decision, record, summary=f"audit log: {action} by {person.subject}",
               via=opts.TREASURY, outages=outages)
