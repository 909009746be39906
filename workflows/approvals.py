"""Approvals, a mixin of InvoiceToPayment (it shares the lifecycle's state, cases and waits).

An invoice approved in the AP platform (`approved_by`) goes straight on. Any other waits in
AWAITING_APPROVAL, right after RECEIVED and before anything reaches the ERP, for `approve`
updates: one approver, or two distinct ones above `LifecyclePolicy.second_approval_above`.
The submitter can not approve, nobody approves twice. `reject` ends the lifecycle CANCELLED
with nothing posted. Nobody acting within `approval_sla_hours` opens an ApprovalOverdue case
for AP remediation, escalated each exception SLA while the invoice keeps waiting.

Histories recorded before approvals existed replay without the wait (`approvals-v1`).
"""

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.commands import ApprovalDecision
    from canonical.lifecycle_snapshot import Stage, WaitingAt, WaitPoint
    from canonical.status import InvoiceStatus as S
    from workflows.lifecycle_parts import LifecycleParts

APPROVALS_PATCH = "approvals-v1"
OVERDUE_CASE = "ApprovalOverdue"


class Rejected(Exception):
    """Internal: an approver rejected the invoice; the lifecycle has ended CANCELLED."""


def _same(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()


class Approvals(LifecycleParts):
    def _init_approvals(self) -> None:
        self._rejection: ApprovalDecision | None = None
        self._awaiting_approval = False
        self._approval_due: datetime | None = None  # when the approval SLA ends: a continued run waits out the rest

    def _approvals_needed(self) -> int:
        return 2 if self._state.invoice.gross_amount > self._policy.second_approval_above else 1

    def _approved(self) -> bool:
        return len(self._state.approvers) >= self._approvals_needed()

    async def _await_approval(self, resumed: bool = False) -> None:
        """Returns once approved; raises Rejected (after ending CANCELLED) on a rejection.
        `resumed`: a run that continued as new goes on waiting, with the approvals it has."""
        inv = self._state.invoice
        needed = self._approvals_needed()
        if not resumed:
            if inv.approved_by:
                self._state.approvers = [inv.approved_by]
                self._state.note(f"approved by {inv.approved_by} in the AP platform")
                return
            if not workflow.patched(APPROVALS_PATCH):
                return  # started before approvals existed: it went straight to validation
            self._approval_due = workflow.now() + timedelta(hours=self._policy.approval_sla_hours)
            above = f" (above {self._policy.second_approval_above} {inv.currency})" if needed > 1 else ""
            self._state.advance(S.AWAITING_APPROVAL,
                                f"needs {needed} approver{'s' if needed > 1 else ''}{above}"
                                + (f"; submitted by {inv.submitted_by}" if inv.submitted_by else ""))
        due = self._approval_due
        assert due is not None  # set above, or kept by the run this one continues
        self._awaiting_approval = True
        try:
            with self._continuable(WaitPoint(stage=Stage.APPROVAL, at=WaitingAt.APPROVAL)):
                await self._wait_or_case(lambda: self._approved() or self._rejection is not None,
                                         due - workflow.now(), OVERDUE_CASE,
                                         f"{inv.supplier_invoice_ref} ({inv.gross_amount} {inv.currency}) has "
                                         f"{len(self._state.approvers)} of {needed} approvals "
                                         f"after {self._policy.approval_sla_hours} h")
        finally:
            self._awaiting_approval = False
        if self._rejection is not None:
            decision = self._rejection
            note = f"rejected by {decision.approver}: {decision.reason}"
            if self._cases.open is not None:
                self._cases.close(decision.approver, note)
                self._state.case_changed()
            self._state.advance(S.CANCELLED, note)
            raise Rejected()
        self._state.note(f"approved by {', '.join(self._state.approvers)}")

    # -- messages ------------------------------------------------------------------------
    @workflow.update
    def approve(self, decision: ApprovalDecision) -> str:
        self._state.approvers.append(decision.approver.strip())
        self._state.note(f"approval {len(self._state.approvers)} of {self._approvals_needed()} by {decision.approver}"
                         + (f": {decision.note}" if decision.note else ""))
        return f"{self._state.invoice.key}: {len(self._state.approvers)} of {self._approvals_needed()} approvals"

    @approve.validator
    def _validate_approve(self, decision: ApprovalDecision) -> None:
        self._check_decision(decision)

    @workflow.update
    def reject(self, decision: ApprovalDecision) -> str:
        self._rejection = decision
        return f"rejecting {self._state.invoice.key}"

    @reject.validator
    def _validate_reject(self, decision: ApprovalDecision) -> None:
        self._check_decision(decision)
        if not (decision.reason or "").strip():
            raise ValueError("a rejection needs a reason")

    def _check_decision(self, decision: ApprovalDecision) -> None:
        key = self._state.invoice.key
        if not self._awaiting_approval or self._rejection is not None or self._cancel is not None or self._approved():
            raise ValueError(f"invoice {key} is {self._state.status.value}, not awaiting approval")
        if not decision.approver.strip():
            raise ValueError("an approval decision needs the approver's identity")
        if _same(decision.approver, self._state.invoice.submitted_by):
            raise ValueError(f"{decision.approver} submitted invoice {key} and can not approve or reject it "
                             "(four eyes)")
        if any(_same(decision.approver, a) for a in self._state.approvers):
            raise ValueError(f"{decision.approver} already approved invoice {key}; "
                             "a second approval needs another person")
