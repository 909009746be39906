"""Decisions into the audit log (architecture invariant 13): the workflow that accepted a
verified decision appends it here, keyed by the workflow id and the token's id, so a retry after
an unknown outcome finds the entry already there instead of writing a second one."""

import asyncio

from temporalio import activity

from adapters.audit_log import AuditLog
from canonical.audit import AuditKind, AuditRecord


class DecisionAuditActivities:
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    @activity.defn
    async def record_decision(self, record: AuditRecord) -> int:
        """The entry's sequence number in the chain."""
        if record.kind is not AuditKind.DECISION:
            raise ValueError(f"record_decision got a {record.kind} record")  # a bug in the caller, retried loudly
        entries = await asyncio.to_thread(self._audit.append, [record])
        return entries[0].seq
