"""Supplier-side controls of one lifecycle, a mixin of InvoiceToPayment (it shares the
lifecycle's state, cases and waits):

- **E-invoice receipts** (`einvoice_received`, from intake): recorded once per document
  (sha256). A document under the same invoice number with another gross or currency is a
  document conflict: no payment run may reserve the invoice until AP resolves an owned
  DuplicateReferenceConflict case (`resolve`, saying which document is right).
- **Refused documents** (`einvoice_refused`, from intake): intake passes on a bounded number of
  distinct documents per invoice and refuses the rest at its boundary, so a flood never reaches
  this history; it tells the running count of refusals (at 1, 2, 4, 8, ...), which the conflict
  case's reason shows. Behind REFUSALS_PATCH: a history from before took the signal as unknown.
- **Bank-detail changes** (`bank_details_changed`, from VendorMasterSync): unless a payment
  is already in flight (never redirected), the invoice is held: SAP payment block "B", a
  BankDetailsChanged case for master data, and no reservation until a verified master-data
  person confirms the new details (`confirm_bank_details`, a decision token): not the person
  the ERP's records name as the changer; where the ERP keeps none, the change counts as made
  by someone unknown. Then the block is lifted, the bank account validated again against the
  ERP, so the new one is paid, after the cooling-off (payee_account).

Signals only record; the main flow acts on them while it waits for a payment run
(`_await_reservation`), where holding is safe. Nothing here runs unless these signals came,
so recorded histories replay unchanged.
"""

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from canonical.commands import ConfirmBankDetails, ResolveException
    from canonical.einvoice import EInvoiceReceipt, EInvoiceReceiptRecord, EInvoiceRefusals
    from canonical.erp import PaymentBlock, PaymentBlockReason
    from canonical.lifecycle_snapshot import Stage, WaitingAt, WaitPoint
    from canonical.status import InvoiceStatus as S
    from canonical.vendors import BankDetailsChange

import workflows.activity_options as opts
from workflows import decisions, patch_generation
from workflows.lifecycle_parts import LifecycleParts

CONFLICT_CASE = "DuplicateReferenceConflict"
REFUSALS_PATCH = "einvoice-refusals-v1"
_REFUSED_MARK = " | refused at intake: "
BANK_CASE = "BankDetailsChanged"
# The ERP adapter maps it to its own key (SAP: "B", blocked for payment pending the bank-detail check).
BANK_BLOCK = PaymentBlockReason.BANK_DETAILS

# "Payments already in flight are not redirected."
IN_FLIGHT = {S.IN_PAYMENT_RUN, S.SENT_TO_BANK, S.ACCEPTED, S.SETTLED, S.CLEARED, S.COMPLETED}

_MAX_RECEIPTS = 50  # shown in the status query
_MAX_SEEN = 500  # sha256s remembered for de-duplication
_MAX_CONFLICTS = 20  # document conflicts kept in words; the case says there were more


class SupplierControls(LifecycleParts):
    def _init_controls(self) -> None:
        self._seen_documents: list[str] = []
        self._conflicts: list[str] = []  # unresolved document conflicts, in words
        self._conflict_case_id: str | None = None
        self._documents_refused = 0  # distinct documents intake refused for this invoice, as last told
        self._bank_changes: list[BankDetailsChange] = []  # not yet confirmed
        self._bank_case_id: str | None = None
        self._bank_confirmation: ConfirmBankDetails | None = None

    # -- what the main flow and the validators ask --------------------------------------
    def _controls_pending(self) -> bool:
        return bool(self._conflicts or self._bank_changes) or self._payee_claims_pending()

    def _controls_refusal(self) -> str | None:
        """Why a payment run may not reserve the invoice now, or None."""
        key = self._state.invoice.key
        if self._conflicts:
            return f"{key} has an unresolved e-invoice document conflict: {self._conflicts[0]}"
        if self._bank_changes:
            return f"{key} is on payment hold: the supplier's bank details changed and are not confirmed yet"
        if self._payee_claims_pending():
            return f"{key}: an e-invoice names a payee account not yet compared with the ERP's"
        return self._cooling_off_refusal()

    def _check_resolve(self, request: ResolveException) -> None:
        open_case = self._cases.open
        if open_case is None:
            return
        if open_case.case_id == self._bank_case_id:
            raise ValueError(f"{open_case.case_id} is a bank-detail hold: confirm the new details with "
                             "confirm_bank_details (by someone other than who changed them)")
        if open_case.case_id == self._conflict_case_id and (request.corrected_invoice or request.bank_account_id):
            raise ValueError("a document conflict is resolved in words (which document is right); the posted "
                             "invoice stands, cancel it if the other document is the right one")

    # -- the main flow: called from _await_reservation while nothing is reserved ------------
    async def _apply_controls(self) -> None:
        if self._payee_claims_pending():  # first: a quick comparison; a PayeeAccountMismatch holds here
            self._validated = await self._step(self._validate)
        elif self._conflicts:
            await self._hold_for_conflict()
        elif self._bank_changes:
            await self._hold_for_bank_details()

    async def _resume_controls(self, resume: WaitPoint) -> None:
        """A run that continued as new during a hold here goes on holding."""
        if resume.at is WaitingAt.DOCUMENT_CONFLICT:
            await self._hold_for_conflict(resume)
        elif resume.at is WaitingAt.BANK_DETAILS:
            await self._hold_for_bank_details(resumed=True)

    async def _hold_for_conflict(self, resume: WaitPoint | None = None) -> None:
        if resume is None:
            reason = f"{'; '.join(self._conflicts)}: not paid until AP says which document is right"
            self._open_case(CONFLICT_CASE, self._with_refusals(reason), hold=True)
            assert self._cases.open is not None
            self._conflict_case_id = self._cases.open.case_id
        handled = resume.conflicts_held if resume else len(self._conflicts)
        with self._continuable(WaitPoint(stage=Stage.PAYMENT, at=WaitingAt.DOCUMENT_CONFLICT, conflicts_held=handled)):
            await self._wait_for_person(lambda: False)  # `resolve` closes it and resumes; `cancel` raises
        del self._conflicts[:handled]
        self._conflict_case_id = None

    async def _hold_for_bank_details(self, resumed: bool = False) -> None:
        """`resumed`: a continued run waits on for the confirmation. The holds of the ERP calls
        around it do not continue as new (nested steps): resuming would block or lift again."""
        doc = self._state.erp_document
        if not resumed:
            changes = ", ".join(f"{c.bank_account_id}: {c.old_masked or 'none'} → {c.new_masked or 'removed'} "
                                f"(changed by {c.changed_by or 'an unknown person: the ERP keeps no changer'})"
                                for c in self._bank_changes)
            if doc is not None:
                await self._step(lambda: self._payment_block(
                    BANK_BLOCK, f"block ERP document {doc.invoice_document} until the new bank details are confirmed"))
            self._open_case(BANK_CASE, f"supplier {self._state.invoice.supplier_id} bank details changed ({changes}); "
                                       "payment held until confirmed", hold=True)
            assert self._cases.open is not None
            self._bank_case_id = self._cases.open.case_id
        with self._continuable(WaitPoint(stage=Stage.PAYMENT, at=WaitingAt.BANK_DETAILS)):
            await self._wait_for_person(lambda: self._bank_confirmation is not None)
        confirmation, handled = self._bank_confirmation, len(self._bank_changes)
        assert confirmation is not None  # `resolve` is refused on this case: only a confirmation ends it
        confirmer = self._confirmer(confirmation)
        self._cases.close(confirmer, f"bank details confirmed: {confirmation.note}")
        self._bank_case_id = None
        self._state.case_changed()
        if doc is not None:
            await self._step(lambda: self._payment_block(
                "", f"lift the payment block on ERP document {doc.invoice_document}"))
        # The new account is what the ERP holds now: validate again so that one is paid.
        self._validated = await self._step(self._validate)
        confirmed = self._bank_changes[:handled]
        del self._bank_changes[:handled]
        self._bank_confirmation = None
        self._state.resume(f"bank details confirmed by {confirmer}; "
                           f"pays to {self._validated.bank_account.masked()}")
        await self._start_cooling_off(confirmed)  # no run reserves it before the cooling-off ends

    async def _payment_block(self, reason: str, summary: str) -> None:
        await self._call(ErpActivities.set_payment_block,
                         PaymentBlock(erp_document=self._state.erp_document, reason=reason),
                         summary=summary, via=opts.ERP)

    # -- messages ------------------------------------------------------------------------
    @workflow.signal
    def einvoice_received(self, payload: RawValue) -> None:
        receipt = self._decode("einvoice_received", payload, EInvoiceReceipt)
        if receipt is not None:
            self._receive_einvoice(receipt)

    def _receive_einvoice(self, receipt: EInvoiceReceipt) -> None:
        if receipt.sha256 in self._seen_documents:
            return  # the same document pushed again
        self._seen_documents.append(receipt.sha256)
        del self._seen_documents[:-_MAX_SEEN]
        self._take_payee_claim(receipt)  # compared with the ERP's account (payee_account)
        inv = self._state.invoice
        conflict = (receipt.gross_amount, receipt.currency) != (inv.gross_amount, inv.currency)
        self._state.einvoice_receipts.append(EInvoiceReceiptRecord.of(receipt, conflict))
        del self._state.einvoice_receipts[:-_MAX_RECEIPTS]
        if not conflict:
            self._receipt_for_answers(receipt)  # the supplier hears AB (supplier_answers)
        if not conflict:
            self._state.note(f"e-invoice {receipt.document_id} received (sha256 {receipt.sha256[:12]})")
            return
        what = (f"e-invoice {receipt.document_id} (sha256 {receipt.sha256[:12]}) is for {receipt.gross_amount} "
                f"{receipt.currency}, this invoice for {inv.gross_amount} {inv.currency}")
        if len(self._conflicts) >= _MAX_CONFLICTS:  # a flood of other documents: noted, the list stays bounded
            self._state.note(f"document conflict beyond the first {_MAX_CONFLICTS}, not listed in the case: {what}")
            return
        self._conflicts.append(what)
        if self._state.status in IN_FLIGHT or self._pay.reservation is not None:
            self._state.note(f"document conflict: {what}; the payment already in flight goes on, "
                             "a case opens before any further payment attempt")
        else:
            self._state.note(f"document conflict: {what}; no payment until resolved")

    @workflow.signal
    def einvoice_refused(self, payload: RawValue) -> None:
        if not patch_generation.has(REFUSALS_PATCH):
            self.unknown_signal("einvoice_refused", [payload])  # as a worker from before took it: unknown
            return
        refusals = self._decode("einvoice_refused", payload, EInvoiceRefusals)
        if refusals is None or refusals.refused <= self._documents_refused:
            return  # an older count overtaken by a newer one
        self._documents_refused = refusals.refused
        self._state.note(f"intake refused {refusals.refused} further e-invoice documents for this invoice "
                         f"(it passes on {refusals.limit} distinct documents per invoice)")
        case = self._cases.open
        if case is not None and case.case_id == self._conflict_case_id:
            self._cases.open = case.model_copy(update={"reason": self._with_refusals(case.reason)})
            self._state.case_changed()

    def _with_refusals(self, reason: str) -> str:
        """The conflict case's reason with how many documents intake refused (none: unchanged)."""
        base = reason.split(_REFUSED_MARK)[0]
        return f"{base}{_REFUSED_MARK}{self._documents_refused} further documents" if self._documents_refused else base

    @workflow.signal
    def bank_details_changed(self, payload: RawValue) -> None:
        change = self._decode("bank_details_changed", payload, BankDetailsChange)
        if change is not None:
            self._bank_details_changed(change)

    def _bank_details_changed(self, change: BankDetailsChange) -> None:
        what = (f"bank account {change.bank_account_id} of supplier {change.supplier_id} changed: "
                f"{change.old_masked or 'none'} → {change.new_masked or 'removed'}"
                + (f" by {change.changed_by}" if change.changed_by else ""))
        if change.supplier_id != self._state.invoice.supplier_id:
            self._state.note(f"{what}: not this invoice's supplier, ignored")
        elif self._state.status == S.CANCELLED:
            self._state.note(f"{what}: invoice cancelled, nothing to hold")
        elif self._state.status in IN_FLIGHT or self._pay.reservation is not None:
            # The payment in flight is not redirected; a later attempt waits for confirmation.
            self._bank_changes.append(change)
            self._state.note(f"{what}; the payment already in flight is not redirected, "
                             "any further attempt waits for the new details to be confirmed")
        else:
            self._bank_changes.append(change)
            self._state.note(f"{what}; payment held until someone confirms the new details")

    @workflow.update
    def confirm_bank_details(self, request: ConfirmBankDetails) -> str:
        self._bank_confirmation = request
        assert self._bank_case_id is not None  # checked by the validator
        if request.token:
            changes = ", ".join(f"{c.bank_account_id} {c.new_masked or 'removed'}" for c in self._bank_changes)
            self._state.record_decision(decisions.person(request.token), "confirm_bank_details",
                                        f"bank details confirmed ({request.note})", before=f"changed: {changes}",
                                        after="confirmed")
        return self._bank_case_id

    @confirm_bank_details.validator
    def _validate_confirm_bank_details(self, request: ConfirmBankDetails) -> None:
        open_case = self._cases.open
        if open_case is None or open_case.case_id != self._bank_case_id or self._bank_confirmation is not None:
            raise ValueError(f"invoice {self._state.invoice.key} has no bank-detail hold open")
        if not request.token:
            raise ValueError("confirm_bank_details needs a signed decision token: python -m cli decision "
                             f"confirm_bank_details --as <you> --workflow-id {workflow.info().workflow_id} "
                             "--set note='called the supplier back'")
        person = decisions.verify(request.token, "confirm_bank_details")  # role master-data
        if self._state.token_used(person):
            raise ValueError("this decision token was already used on this invoice; ask for a fresh one")
        confirmer = person.subject.strip().casefold()
        # Where the ERP's records name who changed the details, that person may not confirm them;
        # where they do not, any verified master-data person confirms (the change is by someone unknown).
        if any(c.changed_by and c.changed_by.strip().casefold() == confirmer for c in self._bank_changes):
            raise ValueError(f"{person.subject} changed these bank details in the ERP and can not confirm them "
                             "(four eyes)")

    @staticmethod
    def _confirmer(request: ConfirmBankDetails) -> str:
        if request.token:
            return decisions.person(request.token).subject
        return request.confirmed_by or "unnamed"  # a confirmation recorded before tokens (replay only)
