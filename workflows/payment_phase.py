"""The lifecycle after SCHEDULED: reserved by a payment run, sent, the bank's answers,
settlement, clearing in the ERP; on a rejection or return, remediation and a new attempt.
A mixin of InvoiceToPayment: it shares the lifecycle's state, cases and waits."""

from datetime import date, datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.bank_evidence import BankEvidenceActivities
    from activities.erp import ErpActivities
    from activities.treasury import TreasuryActivities
    from canonical.commands import ResolveException
    from canonical.erp import OpenItemQuery
    from canonical.lifecycle_snapshot import Stage, WaitingAt, WaitPoint
    from canonical.payment import payee_account
    from canonical.reason_codes import ACCOUNT_REASONS, owner_for_reason
    from canonical.status import InvoiceStatus as S
    from canonical.treasury import ExpectedOutflow, OutflowState

import workflows.activity_options as opts
from workflows import patch_generation
from workflows.bank_confirmation import EVIDENCE_PATCH
from workflows.lifecycle_parts import LifecycleParts
from workflows.payment_leg import account_digest

_ANSWERED = ("accepted", "settled", "rejected", "returned")
CLEARING_HINT_PATCH = "clearing-hint-before-read"
# No read right after settlement; a statement_posted carrying the ERP's clearing needs no read.
STATEMENT_CLEARING_PATCH = "clearing-from-statement-post-answer"
# A settlement the bank inbox already made an actual outflow (activities/bank_inbox.py) is not
# written again by the lifecycle: one local activity, an action, fewer per invoice.
INBOX_BOOKS_ACTUAL_PATCH = "inbox-books-actual-outflow-v1"
_FINAL = ("settled", "rejected", "returned")
_RESERVE, _CLEAR, _REMEDIATE = "reserve", "clear", "remediate"
_PHASE_OF = {WaitingAt.CLEARING: _CLEAR, WaitingAt.REMEDIATION: _REMEDIATE}  # else: for a payment run


class PaymentPhase(LifecycleParts):
    async def _pay_until_cleared(self, resume: WaitPoint | None = None) -> None:
        """`resume`: where a run that continued as new waited; that phase resumes its wait."""
        phase = _PHASE_OF.get(resume.at, _RESERVE) if resume else _RESERVE
        while True:
            if phase == _RESERVE:
                await self._await_reservation(resume)
                resume = None
                paid = await self._follow_bank()
                if paid is None:  # released by the run before its file went out: wait for the next run
                    self._pay.clear_reservation()
                    self._state.payment_run_id = None
                    self._state.advance(S.SCHEDULED, "released from the payment run before sending; "
                                                     "awaits the next run")
                    continue
                phase = _CLEAR if paid else _REMEDIATE
            if phase == _CLEAR:
                cleared = await self._await_clearing(resume)
                resume = None
                if cleared:
                    return
            await self._remediate(resumed=resume is not None)
            phase, resume = _RESERVE, None

    async def _await_reservation(self, resume: WaitPoint | None = None) -> None:
        if resume is not None:
            await self._resume_controls(resume)  # a document-conflict or bank-detail hold (supplier_controls)
        due = datetime.combine(self._state.invoice.net_due_date, datetime.min.time(), workflow.now().tzinfo)
        deadline = due + timedelta(days=self._policy.payment_run_grace_days)
        while True:
            # A document conflict or a bank-detail change (supplier_controls) holds the invoice
            # here, before any run can reserve it; without those signals this is one wait.
            with self._continuable(WaitPoint(stage=Stage.PAYMENT, at=WaitingAt.RESERVATION)):
                await self._wait_or_case(lambda: self._pay.reservation is not None or self._controls_pending(),
                                         deadline - workflow.now(), "NotInPaymentRun",
                                         f"due {self._state.invoice.net_due_date} and in no payment run")
            if self._pay.reservation is not None or not self._controls_pending():
                break
            await self._apply_controls()
        reservation = self._pay.reservation
        assert reservation is not None  # the wait ends with a reservation once no hold is pending
        self._state.payment_run_id = reservation.payment_run_id
        self._state.advance(S.IN_PAYMENT_RUN,
                            f"payment run {reservation.payment_run_id} ({reservation.run_key}), "
                            f"attempt {self._pay.live.attempt}, EndToEndId {self._pay.live.end_to_end_id}")

    async def _follow_bank(self) -> bool | None:
        """True once the bank settled the current attempt; False when it was rejected or
        returned; None when the run released it unsent."""
        await self._wait_or_case(lambda: self._pay.outcome() != "reserved", timedelta(days=1), "PaymentRunStalled",
                                 "reserved by a payment run that has not sent its file for a day")
        if self._pay.outcome() == "released" and (
                not patch_generation.has(EVIDENCE_PATCH) or not await self._release_is_void()):
            return None
        self._sync_bank_status()
        await self._wait_or_case(lambda: self._pay.outcome() in _ANSWERED,
                                 timedelta(hours=self._policy.bank_status_sla_hours), "BankSilent",
                                 f"no status from the bank for {self._pay.live.end_to_end_id} "
                                 f"(message {self._pay.live.message_id})")
        self._sync_bank_status()
        await self._wait_or_case(lambda: self._pay.outcome() in _FINAL,
                                 timedelta(days=self._policy.settlement_sla_days), "NotSettled",
                                 f"accepted but not settled: {self._pay.live.end_to_end_id}")
        self._sync_bank_status()
        if self._pay.outcome() != "settled":
            # Whoever signalled the failure, only the bank's own messages make it one
            # (architecture invariant 11); if they show the debit, the payment goes on.
            if not patch_generation.has(EVIDENCE_PATCH) or await self._bank_confirms_failure():
                return False
            self._sync_bank_status()
        if self._pay.live.treasury_booked and patch_generation.has(INBOX_BOOKS_ACTUAL_PATCH):
            return True  # the inbox made the outflow actual as it read the settlement
        inv = self._state.invoice
        await self._call(
            TreasuryActivities.register_expected_outflow,
            ExpectedOutflow(invoice_key=inv.key, company_code=inv.company_code, supplier_id=inv.supplier_id,
                            currency=inv.currency,
                            amount=inv.gross_amount, value_date=self._pay.live_instruction.requested_execution_date,
                            state=OutflowState.ACTUAL),
            summary=f"cash out: {inv.gross_amount} {inv.currency} actual", via=opts.TREASURY,
            local=True,  # keyed by the invoice: a second write changes nothing
        )
        return True

    def _sync_bank_status(self) -> None:
        """Walk the status forward to what the bank said, through every state in between."""
        path = {"sent": [S.SENT_TO_BANK], "accepted": [S.SENT_TO_BANK, S.ACCEPTED],
                "settled": [S.SENT_TO_BANK, S.ACCEPTED, S.SETTLED], "rejected": [S.SENT_TO_BANK, S.BANK_REJECTED],
                "returned": [S.SENT_TO_BANK, S.ACCEPTED, S.SETTLED, S.RETURNED]}
        attempt = self._pay.live
        passed = {h.status for h in self._state.history_since_last(S.IN_PAYMENT_RUN)}
        for status in path.get(attempt.outcome, []):
            if status not in passed:
                note = f"{attempt.end_to_end_id} in message {attempt.message_id}" if status == S.SENT_TO_BANK else (
                    f"{attempt.end_to_end_id}: {attempt.reason or status.value.lower()}")
                self._state.advance(status, note)

    async def _await_clearing(self, resume: WaitPoint | None = None) -> bool:
        """The ERP clears the item from the bank statement; we believe the ERP, not the bank.
        `resume`: a continued run keeps the clearing SLA and waits out the look it planned."""
        doc, inv = self._state.erp_document, self._state.invoice
        assert doc is not None  # posted before it was paid
        deadline = resume.deadline if resume else workflow.now() + timedelta(days=self._policy.clearing_sla_days)
        assert deadline is not None  # a clearing wait point has its deadline
        next_look = resume.next_look_at if resume else None
        told = patch_generation.has(STATEMENT_CLEARING_PATCH)
        if told and next_look is None and not self._pay.clearing_hint and self._pay.outcome() != "returned":
            # Just settled, no statement told us anything yet: the ERP clears from the statement,
            # which is not posted yet, so a read now finds the item open. An item cleared by hand
            # is found by the look after clearing_check_hours (or reconciliation's hint).
            next_look = workflow.now() + timedelta(hours=self._policy.clearing_check_hours)
        while True:
            if next_look is None:
                clearing = self._pay.erp_clearing if told and self._pay.outcome() != "returned" else None
                if clearing is not None and clearing.accounting_document in (doc.accounting_document,
                                                                             doc.invoice_document):
                    # The ERP's own answer, read by the statement post right after posting
                    # (ErpPort.clearing_states): the clearing document a read would show. Never the bank's word.
                    self._cleared(clearing.clearing_document, clearing.clearing_date, "from the statement post")
                    return True
                # A statement_posted hint that arrives while the ERP is read must not be wiped after
                # the read (it would wait clearing_check_hours for a clearing already there).
                hint_first = patch_generation.has(CLEARING_HINT_PATCH)
                if hint_first:
                    self._pay.clearing_hint = False
                item = await self._call(ErpActivities.read_open_item,
                                        OpenItemQuery(erp_document=doc, company_code=inv.company_code),
                                        summary=f"is ERP document {doc.invoice_document} cleared?", via=opts.ERP)
                if item is not None and item.is_cleared:
                    self._cleared(item.clearing_document, item.clearing_date)
                    return True
                if self._pay.outcome() == "returned":
                    self._sync_bank_status()
                    return False
                if not hint_first:
                    self._pay.clearing_hint = False
                next_look = workflow.now() + timedelta(hours=self._policy.clearing_check_hours)
            at = WaitPoint(stage=Stage.PAYMENT, at=WaitingAt.CLEARING, deadline=deadline, next_look_at=next_look)
            with self._continuable(at):
                await self._wait(lambda: self._pay.clearing_hint or self._pay.outcome() == "returned",
                                 next_look - workflow.now(), "next look at the ERP open item")
            next_look = None
            if workflow.now() >= deadline and self._cases.open is None:
                self._open_case("NotCleared", f"settled but the ERP has not cleared document {doc.invoice_document}",
                                hold=False)

    def _cleared(self, clearing_document: str, clearing_date: date | None, how: str = "") -> None:
        if self._cases.open is not None:
            self._cases.close("finsync", f"cleared by ERP document {clearing_document}")
            self._state.case_closed()
        self._state.advance(S.CLEARED, f"ERP clearing document {clearing_document} on {clearing_date}"
                                       + (f" ({how})" if how else ""))

    async def _await_reopen(self) -> None:
        """A returned payment is paid again only once the ERP has reopened the item (from the
        statement's return line): claiming a still-cleared item would pay it twice."""
        doc, inv = self._state.erp_document, self._state.invoice
        assert doc is not None  # posted before it was paid
        query = OpenItemQuery(erp_document=doc, company_code=inv.company_code)
        deadline = workflow.now() + timedelta(days=self._policy.clearing_sla_days)
        while True:
            hint_first = patch_generation.has(CLEARING_HINT_PATCH)
            if hint_first:
                self._pay.clearing_hint = False
            item = await self._call(ErpActivities.read_open_item, query,
                                    summary=f"has the ERP reopened {doc.invoice_document}?", via=opts.ERP)
            # Reopened means the ERP booked both our debit and its return from statements; an
            # item that merely looks open may still be cleared by a later statement's debit.
            if item is not None and not item.is_cleared and item.clearing_is_reversed:
                self._state.advance(S.REOPENED, "the ERP reopened the item from the statement's return line")
                return
            if not hint_first:
                self._pay.clearing_hint = False
            await self._wait(lambda: self._pay.clearing_hint, timedelta(hours=self._policy.clearing_check_hours),
                             "next look at the ERP open item")
            if workflow.now() >= deadline and self._cases.open is None:
                self._open_case("NotReopened",
                                f"returned by the bank but the ERP still shows {doc.invoice_document} cleared",
                                hold=False)

    async def _remediate(self, resumed: bool = False) -> None:
        """`resumed`: a continued run waits on with the open case (the payment's, a hold of the
        validation after it, or SameAccountRejected): each is followed by validating again."""
        attempt = self._pay.live
        if not resumed:
            if attempt.outcome == "returned":
                await self._await_reopen()
                if self._cases.open is not None and self._cases.open.type == "NotReopened":
                    self._cases.close("finsync", "the ERP reopened the item")
            why = attempt.reason or "no reason given"
            self._state.advance(S.AWAITING_REMEDIATION, f"attempt {attempt.attempt} {attempt.outcome}: {why}")
            self._open_case(f"Payment{attempt.outcome.capitalize()}",
                            f"attempt {attempt.attempt} ({attempt.end_to_end_id}) {attempt.outcome}: {why}",
                            hold=False, owner=owner_for_reason(attempt.reason_code))
            await self._call(ErpActivities.release_payment_run_claim, self._state.erp_document,
                             summary="release the ERP payment-run claim", via=opts.ERP)
            if attempt.outcome == "returned":
                await self._register_outflow()  # the money came back: expected again
        with self._continuable(WaitPoint(stage=Stage.PAYMENT, at=WaitingAt.REMEDIATION)):
            await self._wait_for_person(lambda: False)
            await self._reapprove_if_due()  # a new payee needs approval again (ap_decisions)
            # The resolution may name new bank details: check them against the ERP before paying.
            self._validated = await self._step(self._validate)
            while patch_generation.has(EVIDENCE_PATCH) and self._pays_a_refused_account():
                self._open_case("SameAccountRejected", f"the ERP still gives {self._validated.bank_account.masked()}, "
                                                       f"the account the bank refused ({attempt.reason}); name another "
                                                       "account or have master data correct it",
                                hold=False, owner=owner_for_reason(attempt.reason_code))
                await self._wait_for_person(lambda: False)
                await self._reapprove_if_due()
                self._validated = await self._step(self._validate)
        self._pay.clear_reservation()
        self._state.payment_run_id = None
        self._state.advance(S.SCHEDULED, f"attempt {self._pay.next_attempt()} awaits a payment run")

    def _pays_a_refused_account(self) -> bool:
        assert self._validated is not None  # validated just before
        account = self._validated.bank_account
        # An IBAN, or for a NACHA payee its ABA routing and account number (check_bank_account).
        return account_digest(payee_account(account.iban, account.bank_number, account.account_number)) \
            in self._pay.rejected_accounts

    def _check_payee_change(self, request: ResolveException) -> None:
        """After the bank refused the payee's account as wrong, a resolution must name another
        account, or say master data corrected it in the ERP (checked again before paying)."""
        attempt = self._pay.attempts[-1] if self._pay.attempts else None
        case = self._cases.open  # the validator checked there is one
        if (case is None or case.type not in ("PaymentRejected", "PaymentReturned") or attempt is None
                or attempt.reason_code not in ACCOUNT_REASONS or request.bank_details_corrected):
            return
        current = self._state.invoice.bank_account_id
        named = request.bank_account_id or (request.corrected_invoice.bank_account_id
                                            if request.corrected_invoice else None)
        if named is None or named == current:
            raise ValueError(f"the bank refused the payee's account ({attempt.reason}): name another bank account "
                             "(bank_account_id), or set bank_details_corrected once master data has corrected it in "
                             "the ERP; paying the same account again is refused")

    async def _release_is_void(self) -> bool:
        """A release only counts while the payment is in no file: once it is in one, the file
        may be at the bank, and paying the invoice in another run would pay it twice."""
        attempt = self._pay.live
        message_id = await self._call(BankEvidenceActivities.payment_file_of, attempt.end_to_end_id,
                                      summary=f"is {attempt.end_to_end_id} in a payment file?", via=opts.TREASURY)
        if message_id is None:
            return False
        attempt.outcome, attempt.message_id = "sent", message_id
        self._state.note(f"release of {attempt.end_to_end_id} ignored: it is in payment file {message_id}")
        return True

    async def _wait_or_case(self, condition, timeout: timedelta, case_type: str, reason: str) -> None:
        """Wait; when the deadline passes, open an owned case and keep waiting. The case closes
        by itself when the awaited thing happens. A run that continued as new with the case open
        goes on waiting under it."""
        while not condition():
            under_case = self._cases.open is not None and self._cases.open.type == case_type
            if not under_case and await self._wait(condition, timeout, f"{case_type} deadline"):
                break
            if self._cases.open is None:
                self._open_case(case_type, reason, hold=False)
            await self._wait_for_person(condition)
        if self._cases.open is not None and self._cases.open.type == case_type:
            self._cases.close("finsync", "resolved by events: the awaited step happened")
            self._state.case_changed()
