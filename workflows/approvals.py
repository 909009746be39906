"""Approvals, a mixin of InvoiceToPayment (it shares the lifecycle's state, cases and waits).

Since `verified-decisions-v1` a lifecycle records, at its start, the controls of the worker's
configuration (`read_controls`: thresholds and approval limits per role; a start memo can not
change them) and the verdict on its start input (`verify_start`: the submitter's `submission`
token, the AP platform's signed approval). Only an approval the AP platform signed for these
figures lets the invoice go straight on, and only up to `ap_platform_trusted_up_to`; above it
finsync's own approver is needed too. Any other invoice waits in AWAITING_APPROVAL, right after
RECEIVED and before anything reaches the ERP, for `approve` updates with decision tokens: one
approver, two distinct ones above `second_approval_above`, and at least one whose role's limit
covers the gross amount. The verified submitter can not approve, nobody approves twice
(ap_decisions.py). `reject` ends the lifecycle CANCELLED; nobody acting within
`approval_sla_hours` opens an ApprovalOverdue case for AP remediation, escalated each exception
SLA while the invoice keeps waiting. A correction after approval comes back here (`again`).

Since `admit-invoice-v1` both are one activity, `admit_invoice`, recorded as one result.
Histories recorded before approvals existed replay without the wait (`approvals-v1`); those
recorded before verified decisions keep the memo's threshold and the typed `approved_by`.
"""

from contextlib import nullcontext
from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.commands import ApprovalDecision, CancelInvoice
    from canonical.decisions import Approval, DecisionRecord, Figures, StartCheck
    from canonical.lifecycle_snapshot import Stage, WaitingAt, WaitPoint
    from canonical.status import InvoiceStatus as S

from workflows import patch_generation
from workflows.ap_decisions import decider
from workflows.controls import read_controls
from workflows.decisions import admit_invoice, verify_start
from workflows.lifecycle_parts import LifecycleParts

APPROVALS_PATCH = "approvals-v1"
DECISIONS_PATCH = "verified-decisions-v1"
ADMISSION_PATCH = "admit-invoice-v1"  # read_controls + verify_start as one activity (admit_invoice)
OVERDUE_CASE = "ApprovalOverdue"


class Rejected(Exception):
    """Internal: an approver rejected the invoice; the lifecycle has ended CANCELLED."""


class Approvals(LifecycleParts):
    def _init_approvals(self) -> None:
        self._rejection: ApprovalDecision | None = None
        self._awaiting_approval = False
        self._approval_due: datetime | None = None  # when the approval SLA ends: a continued run waits out the rest

    async def _verify_start(self) -> None:
        """A new lifecycle: the controls it runs under and who its start input names, verified
        once and recorded (activity results), so replays decide the same whatever the keys."""
        if not patch_generation.has(DECISIONS_PATCH):
            return
        inv = self._state.invoice
        if patch_generation.has(ADMISSION_PATCH):  # one activity for both answers
            # A normal activity: in a run's first task a local one, when a query ended that task
            # early, replayed with another workflow.now() than it ran with (measured, SDK 1.35).
            # The keys and RECEIVED go out with it: a start check slow to answer (a busy worker)
            # must not leave the invoice unfindable in visibility.
            admission = await admit_invoice(StartCheck(invoice=inv, workflow_id=workflow.info().workflow_id,
                                                       now=workflow.now()), self._cases.outages)
            controls = self._controls = admission.controls
            verdict = admission.verdict
        else:
            controls = self._controls = await read_controls(self._cases.outages)
            verdict = await verify_start(StartCheck(invoice=inv, workflow_id=workflow.info().workflow_id,
                                                    now=workflow.now()), self._cases.outages)
        now = workflow.now()  # after the local activity, as the notes below are stamped
        if self._policy.second_approval_above != controls.second_approval_above:
            self._state.note(f"the start memo's second_approval_above ({self._policy.second_approval_above}) is "
                             f"ignored: controls come from the worker's configuration "
                             f"({controls.second_approval_above} {inv.currency})")
        if verdict.submitter and verdict.submitter_verified_by:
            self._submitter = self._state.submitted_by = verdict.submitter
            self._state.decided(DecisionRecord(who=verdict.submitter, verified_by=verdict.submitter_verified_by,
                                               action="submit", after=str(Figures.of(inv)), at=now),
                                f"submitted by {verdict.submitter}")
        elif inv.submitted_by:
            self._state.submitted_by = f"{inv.submitted_by} (unverified)"
        if verdict.submission_refused:
            self._state.note(f"the submission token is not accepted: {verdict.submission_refused}")
        if verdict.platform_approver and verdict.platform_verified_by and verdict.platform_token_id:
            trusted = controls.ap_platform_trusted_up_to
            covers = inv.gross_amount <= trusted
            self._approvals.append(Approval(subject=verdict.platform_approver, verified_by=verdict.platform_verified_by,
                                            token_id=verdict.platform_token_id, covers=covers, limit=trusted))
            self._state.approvers = [verdict.platform_approver]
            self._used_tokens.append(verdict.platform_token_id)
            self._state.decided(DecisionRecord(who=verdict.platform_approver, verified_by=verdict.platform_verified_by,
                                               action="approve", after=str(Figures.of(inv)), at=now,
                                               token_id=verdict.platform_token_id),
                                f"approved by {verdict.platform_approver} in the AP platform"
                                + ("" if covers else f"; above {trusted} {inv.currency} finsync's own approver is "
                                                     "needed as well"))
        elif verdict.platform_refused:
            self._state.note(f"approved_by {inv.approved_by or '(none)'} not honoured: {verdict.platform_refused}; "
                             "the invoice waits for approval in finsync")

    def _approvals_needed(self) -> int:
        above = self._controls.second_approval_above if self._controls else self._policy.second_approval_above
        return 2 if self._state.invoice.gross_amount > above else 1

    def _approved(self) -> bool:
        if self._controls is None:  # a lifecycle started before verified decisions: its own rule
            return len(self._state.approvers) >= self._approvals_needed()
        return len(self._approvals) >= self._approvals_needed() and any(a.covers for a in self._approvals)

    def _needed_text(self) -> str:
        inv, needed = self._state.invoice, self._approvals_needed()
        above = self._controls.second_approval_above if self._controls else self._policy.second_approval_above
        text = f"needs {needed} approver{'s' if needed > 1 else ''}" + (
            f" (above {above} {inv.currency})" if needed > 1 else "")
        if self._controls is not None and not any(a.covers for a in self._approvals):
            text += f", one with an approval limit covering {inv.gross_amount} {inv.currency}"
        if self._state.approvers:
            text += f"; approved so far by {', '.join(self._state.approvers)}"
        return text

    def _covers(self, roles: tuple[str, ...]) -> tuple[bool, Decimal | None]:
        """Whether an approver with `roles` covers the gross, and up to what (None: any amount)."""
        assert self._controls is not None
        limits = [self._controls.approval_limits[r] for r in roles if r in self._controls.approval_limits]
        if not limits:
            return False, Decimal(0)
        if any(limit is None for limit in limits):
            return True, None
        best = max(limit for limit in limits if limit is not None)
        return self._state.invoice.gross_amount <= best, best

    async def _await_approval(self, resumed: bool = False, again: bool = False) -> None:
        """Returns once approved; raises Rejected (after ending CANCELLED) on a rejection.
        `resumed`: a run that continued as new goes on waiting, with the approvals it has.
        `again`: the figures changed after approval (ap_decisions.py)."""
        inv = self._state.invoice
        if not resumed:
            if self._controls is None:
                if inv.approved_by:
                    self._state.approvers = [inv.approved_by]
                    self._state.note(f"approved by {inv.approved_by} in the AP platform")
                    return
                if not patch_generation.has(APPROVALS_PATCH):
                    return  # started before approvals existed: it went straight to validation
            elif self._approved() and not again:
                return  # the AP platform's approval suffices (noted at the start)
            self._approval_due = workflow.now() + timedelta(hours=self._policy.approval_sla_hours)
            self._state.approval_needed = self._needed_text()
            submitted = f"; submitted by {self._state.submitted_by or inv.submitted_by}" if (
                self._state.submitted_by or inv.submitted_by) else ""
            self._state.advance(S.AWAITING_APPROVAL, (f"{Figures.of(inv)}: " if again else "")
                                + self._state.approval_needed + submitted)
        due = self._approval_due
        assert due is not None  # set above, or kept by the run this one continues
        self._awaiting_approval = True
        # Once the ERP has the document, a continued run could not resume before it: no continuing.
        continuable = self._state.erp_document is None
        try:
            with self._continuable(WaitPoint(stage=Stage.APPROVAL, at=WaitingAt.APPROVAL)) if continuable \
                    else nullcontext():
                await self._wait_or_case(lambda: self._approved() or self._rejection is not None,
                                         due - workflow.now(), OVERDUE_CASE,
                                         f"{inv.supplier_invoice_ref} ({inv.gross_amount} {inv.currency}) has "
                                         f"{len(self._state.approvers)} of {self._approvals_needed()} approvals "
                                         f"after {self._policy.approval_sla_hours} h")
        finally:
            self._awaiting_approval = False
        self._state.approval_needed = None
        if self._rejection is not None:
            self._rejected(self._rejection)
        self._reapproval_due = False
        self._state.note(f"approved by {', '.join(self._state.approvers)}")

    def _rejected(self, decision: ApprovalDecision) -> None:
        who = decider(decision.token, decision.approver).subject
        note = f"rejected by {who}: {decision.reason}"
        if self._state.erp_document is not None:
            # Rejected on re-approval after posting: withdrawn as a cancel is (block, outflow).
            self._cancel = CancelInvoice(token=decision.token, requested_by=who, reason=note)
            self._raise_if_cancelled()
        if self._cases.open is not None:
            self._cases.close(who, note)
            self._state.case_changed()
        self._state.advance(S.CANCELLED, note)
        raise Rejected()

    # -- messages ------------------------------------------------------------------------
    @workflow.update
    def approve(self, decision: ApprovalDecision) -> str:
        d = decider(decision.token, decision.approver)
        before = len(self._state.approvers)
        if self._controls is None:
            self._state.approvers.append(d.subject)
        else:
            covers, limit = self._covers(d.roles)
            self._approvals.append(Approval(subject=d.subject, verified_by=d.verified_by, token_id=d.token_id or "",
                                            covers=covers, limit=limit))
            self._state.approvers = [a.subject for a in self._approvals]
        needed, count = self._approvals_needed(), len(self._state.approvers)
        self._state.approval_needed = None if self._approved() else self._needed_text()
        self._decided(d, "approve", f"approval {count} of {needed} by {d.subject}"
                      + (f": {decision.note}" if decision.note else ""),
                      before=f"{before} of {needed} approvals", after=str(Figures.of(self._state.invoice)))
        still = f"; still {self._state.approval_needed}" if self._state.approval_needed else ""
        return f"{self._state.invoice.key}: {count} of {needed} approvals{still}"

    @approve.validator
    def _validate_approve(self, decision: ApprovalDecision) -> None:
        self._check_awaiting()
        person = self._verified(decision.token, "approve")
        self._check_four_eyes(person.subject, "approve")
        if any(a.strip().casefold() == person.subject.casefold() for a in self._state.approvers):
            raise ValueError(f"{person.subject} already approved invoice {self._state.invoice.key}; "
                             "a second approval needs another person")

    @workflow.update
    def reject(self, decision: ApprovalDecision) -> str:
        d = decider(decision.token, decision.approver)
        self._rejection = decision
        self._decided(d, "reject", None, before=self._state.status.value, after=f"rejected: {decision.reason}")
        return f"rejecting {self._state.invoice.key}"

    @reject.validator
    def _validate_reject(self, decision: ApprovalDecision) -> None:
        self._check_awaiting()
        person = self._verified(decision.token, "reject")
        if not (decision.reason or "").strip():
            raise ValueError("a rejection needs a reason")
        self._check_four_eyes(person.subject, "reject")

    def _check_awaiting(self) -> None:
        key = self._state.invoice.key
        if not self._awaiting_approval or self._rejection is not None or self._cancel is not None or self._approved():
            raise ValueError(f"invoice {key} is {self._state.status.value}, not awaiting approval")
