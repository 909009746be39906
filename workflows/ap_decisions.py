"""Verified AP decisions, a mixin of InvoiceToPayment: `resolve` and `cancel` here, and what
`approve` / `reject` (approvals.py) share with them (architecture invariant 8).

- **Who decides** is the subject of a signed decision token, verified in the update's validator
  (workflows/decisions.py); a typed name is never trusted. A token id is used once per lifecycle.
- **Segregation of duties**, on verified subjects only: the verified submitter (the start input's
  `submission` token or the AP platform's signature) never approves, rejects or corrects their
  own invoice; nobody approves twice; whoever corrected the figures does not approve them.
- **A change after approval needs approval again**: a correction of the gross, currency or payee
  account resets the approvals; past the approval stage the flow returns to AWAITING_APPROVAL
  with the new figures (since `verified-decisions-v1`). A corrected amount once the ERP may hold
  the document is refused: the ERP document and the payment must agree. Switching the payee
  account is master data's (role master-data), and is such a change.
- **Every decision is recorded** as a DecisionRecord in the status (`decisions`) and a history
  note, in one place for the audit trail (architecture invariant 13).
"""

from dataclasses import dataclass

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.commands import CancelInvoice, ResolveException
    from canonical.controls import ControlPolicy
    from canonical.decisions import Approval, DecisionRecord, Figures
    from canonical.status import InvoiceStatus as S
    from identity.people import AP_APPROVER, AP_CLERK, AP_SENIOR_APPROVER, MASTER_DATA

from workflows import decisions
from workflows.decisions import DecisionRefused, VerifiedPerson
from workflows.lifecycle_parts import LifecycleParts

AP_CORRECTORS = frozenset({AP_CLERK, AP_APPROVER, AP_SENIOR_APPROVER})  # who may correct an invoice's content
# Before this point the invoice can still be withdrawn; after it, money may be moving.
CANCELLABLE = {S.RECEIVED, S.AWAITING_APPROVAL, S.VALIDATED, S.POSTED, S.SCHEDULED, S.ON_HOLD, S.AWAITING_REMEDIATION}
_CORRECTABLE = {S.ON_HOLD, S.AWAITING_APPROVAL, S.AWAITING_REMEDIATION}
# A correction brings no approval or submitter of its own: these stay the original's.
_APPROVAL_FIELDS = ("approved_by", "submitted_by", "ap_platform_approval", "submission")
_MAX_TOKENS = 500


@dataclass(frozen=True)
class Decider:
    subject: str
    verified_by: str
    token_id: str | None
    roles: tuple[str, ...]


def decider(token: str | None, typed: str | None) -> Decider:
    """In a handler or the flow: who decided. A token was verified by the validator; the typed
    name is reachable only when replaying a history recorded before decision tokens."""
    if token:
        person = decisions.person(token)
        return Decider(person.subject, person.verified_by, person.token_id, person.roles)
    return Decider((typed or "").strip() or "unknown", "unverified", None, ())


def same(a: str | None, b: str | None) -> bool:
    return bool(a and b) and a.strip().casefold() == b.strip().casefold()  # type: ignore[union-attr]


class ApDecisions(LifecycleParts):
    def _init_decisions(self) -> None:
        self._controls: ControlPolicy | None = None  # recorded at start since verified-decisions-v1
        self._approvals: list[Approval] = []  # what counts toward the current figures
        self._submitter: str | None = None  # verified, never typed
        self._excluded: dict[str, str] = {}  # subject -> why they may not approve the current figures
        self._used_tokens: list[str] = []
        self._reapproval_due = False  # the figures changed after approval: approve again before going on

    # -- shared by the validators -----------------------------------------------------------
    def _verified(self, token: str | None, decision: str) -> VerifiedPerson:
        person = decisions.verify(token, decision)
        if person.token_id in self._used_tokens:
            raise DecisionRefused(f"decision token {person.token_id} was already used on invoice "
                                  f"{self._state.invoice.key}; ask for a fresh one")
        return person

    def _check_four_eyes(self, subject: str, action: str) -> None:
        key = self._state.invoice.key
        if same(subject, self._submitter):
            raise ValueError(f"{subject} submitted invoice {key} and can not {action} it (four eyes)")
        for who, why in self._excluded.items():
            if same(subject, who):
                raise ValueError(f"{subject} {why} and can not {action} it (four eyes)")

    def _decided(self, d: Decider, action: str, note: str | None, before: str | None = None,
                 after: str | None = None) -> None:
        if d.token_id:
            self._used_tokens.append(d.token_id)
            del self._used_tokens[:-_MAX_TOKENS]
        record = DecisionRecord(who=d.subject, verified_by=d.verified_by, action=action, before=before, after=after,
                                at=workflow.now(), token_id=d.token_id)
        if note is None:  # the caller notes it in its own words (a status change)
            self._state.decisions.append(record)
            if self._state.on_decided is not None:
                self._state.on_decided(record)  # into the audit log all the same
        else:
            self._state.decided(record, note)

    # -- corrections --------------------------------------------------------------------------
    def _corrected_figures(self, request: ResolveException) -> Figures:
        inv, corrected = self._state.invoice, request.corrected_invoice
        payee = request.bank_account_id if request.bank_account_id is not None else (
            corrected.bank_account_id if corrected is not None else inv.bank_account_id)
        base = corrected if corrected is not None else inv
        return Figures(gross_amount=base.gross_amount, currency=base.currency, bank_account_id=payee)

    def _check_correction(self, request: ResolveException, person: VerifiedPerson) -> None:
        inv, corrected = self._state.invoice, request.corrected_invoice
        new = self._corrected_figures(request)
        payee_change = new.bank_account_id != inv.bank_account_id
        content_change = corrected is not None and (
            corrected.model_dump(exclude={"bank_account_id", *_APPROVAL_FIELDS})
            != inv.model_dump(exclude={"bank_account_id", *_APPROVAL_FIELDS}))
        if not (payee_change or content_change or request.bank_details_corrected):
            return
        key, who = inv.key, person.subject
        if self._state.status not in _CORRECTABLE:
            raise ValueError(f"invoice {key} is {self._state.status.value}: an invoice is corrected while it is held "
                             "(ON_HOLD), awaiting approval or awaiting remediation")
        if same(who, self._submitter):
            raise ValueError(f"{who} submitted invoice {key} and can not correct it (four eyes)")
        if (payee_change or request.bank_details_corrected) and MASTER_DATA not in person.roles:
            raise ValueError(f"switching or correcting the payee's bank account is master data's: {who} has "
                             f"{', '.join(person.roles) or 'no role'}, it needs {MASTER_DATA}")
        if content_change and not AP_CORRECTORS.intersection(person.roles):
            raise ValueError(f"correcting invoice {key} needs one of the roles {', '.join(sorted(AP_CORRECTORS))}; "
                             f"{who} has {', '.join(person.roles) or 'none'}")
        if (new.gross_amount, new.currency) != (inv.gross_amount, inv.currency):
            doc, case = self._state.erp_document, self._cases.open
            if doc is not None or (case is not None and case.type == "ErpPostingOutcomeUnknown"):
                where = f"ERP document {doc.invoice_document}" if doc else "the ERP (its answer to the post was lost)"
                raise ValueError(f"{key} is posted as {inv.gross_amount} {inv.currency} in {where}: a corrected amount "
                                 "after posting is refused, the ERP document and the payment must agree (cancel the "
                                 "invoice and enter the right one)")

    def _apply_resolution(self, res: ResolveException) -> None:
        """In the flow, when it takes the resolution: the corrected figures, the case closed."""
        d = decider(res.token, res.resolved_by)
        before = Figures.of(self._state.invoice)
        if res.corrected_invoice is not None:
            corrected = res.corrected_invoice
            if self._controls is not None:
                corrected = corrected.model_copy(update={f: getattr(self._state.invoice, f) for f in _APPROVAL_FIELDS})
            self._state.invoice = corrected
        if res.bank_account_id is not None:
            self._state.invoice = self._state.invoice.model_copy(update={"bank_account_id": res.bank_account_id})
        self._cases.close(d.subject, res.resolution)
        verified = "" if d.verified_by == "unverified" else f", verified {d.verified_by}"
        self._state.resume(f"resolved by {d.subject}{verified}: {res.resolution}")
        if self._controls is not None:
            self._figures_changed(before, d.subject)

    def _figures_changed(self, before: Figures, who: str) -> None:
        after = Figures.of(self._state.invoice)
        if after == before:
            return
        self._excluded[who] = f"corrected invoice {self._state.invoice.key} to {after}"
        self._approvals = []
        self._state.approvers = []
        if self._awaiting_approval:
            self._state.approval_needed = self._needed_text()
            self._state.note(f"corrected from {before} to {after}: the approvals so far no longer count")
        else:
            self._reapproval_due = True
            self._state.note(f"approved for {before}, corrected to {after}: it needs approval again")

    async def _reapprove_if_due(self) -> None:
        if self._reapproval_due:
            await self._await_approval(again=True)

    # -- messages ------------------------------------------------------------------------
    @workflow.update
    def resolve(self, request: ResolveException) -> str:
        d = decider(request.token, request.resolved_by)
        now, new = Figures.of(self._state.invoice), self._corrected_figures(request)
        if request.case_id is not None and request.case_id in self._cases.side:
            # A side case holds no flow: closing it is the whole resolution.
            self._cases.close_side(request.case_id, d.subject, request.resolution)
            self._decided(d, "resolve", f"{request.case_id} resolved by {d.subject}: {request.resolution}")
            self._state.case_changed()
            return request.case_id
        self._resolution = request
        assert self._cases.open is not None  # checked by the validator
        self._decided(d, "resolve", None, before=str(now) if new != now else self._cases.open.case_id,
                      after=str(new) if new != now else request.resolution)
        return self._cases.open.case_id

    @resolve.validator
    def _validate_resolve(self, request: ResolveException) -> None:
        person = self._verified(request.token, "resolve")
        key = self._state.invoice.key
        if request.case_id is not None and request.case_id in self._cases.side:
            if request.corrected_invoice is not None or request.bank_account_id is not None:
                raise ValueError(f"{request.case_id} is resolved in words; it changes nothing about the invoice")
            return
        if self._cases.open is None or self._resolution is not None:
            open_ids = [c.case_id for c in self._cases.side.values()]
            raise ValueError(f"invoice {key} has no open exception to resolve"
                             + (f" (side cases: {', '.join(open_ids)}; name one as case_id)" if open_ids else ""))
        if request.case_id is not None and request.case_id != self._cases.open.case_id:
            raise ValueError(f"invoice {key} has no open case {request.case_id}; open: {self._cases.open.case_id}")
        self._check_payee_change(request)
        corrected = request.corrected_invoice
        if corrected is not None and corrected.key != self._state.invoice.key:
            raise ValueError(f"a correction must keep the business key {self._state.invoice.key}, got {corrected.key}")
        self._check_resolve(request)
        self._check_correction(request, person)

    @workflow.update
    def cancel(self, request: CancelInvoice) -> str:
        d = decider(request.token, request.requested_by)
        self._cancel = request
        self._decided(d, "cancel", None, before=self._state.status.value, after=f"cancel: {request.reason}")
        return f"cancelling {self._state.invoice.key}"

    @cancel.validator
    def _validate_cancel(self, request: CancelInvoice) -> None:
        self._verified(request.token, "cancel")
        if self._cancel is not None or self._state.status not in CANCELLABLE:
            raise ValueError(f"invoice {self._state.invoice.key} is {self._state.status.value} "
                             "and can no longer be cancelled")
