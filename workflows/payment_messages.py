"""What payment runs, the bank inbox and people send a lifecycle about its payment, a mixin
of InvoiceToPayment. Reservation is an update (it can refuse); the bank's answers arrive as
signals, decoded here so that a malformed one is shown (operator_inputs) instead of being
dropped by the SDK with a log line."""

from pydantic import ValidationError
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from canonical.commands import BankRejection, PaymentRunInclusion, PaymentSent, ReportBankRejection
    from canonical.erp import StatementClearing
    from canonical.keys import normalise_reference
    from canonical.payment import BankStatus, BankStatusReport, BankStatusReports, PaymentInstruction, end_to_end_id
    from canonical.payment_run import ReservedPayment
    from canonical.status import InvoiceStatus
    from telemetry import finance

from workflows import patch_generation
from workflows.bank_confirmation import EVIDENCE_PATCH
from workflows.lifecycle_parts import LifecycleParts

# statement_posted without an argument (reconciliation, statement posts before the ERP's answer
# rode along): the SDK hands a signal's parameters only the payloads it carries, and its type hint
# must be RawValue exactly for the raw payload, so "none" is this sentinel rather than None.
_NO_CLEARING = RawValue(Payload())


class PaymentMessages(LifecycleParts):
    @workflow.update
    async def reserve_for_payment_run(self, inclusion: PaymentRunInclusion) -> ReservedPayment:
        """A payment run takes this invoice. Atomic in the lifecycle: once reserved it can not
        be cancelled, and a held invoice can not be reserved. The account about to be paid is
        checked against the vendor master first (payee_account)."""
        if self._pay.reservation is not None:  # the run retried its request: same answer
            return self._reserved()
        refusal = await self._account_refusal()
        if refusal is None and self._pay.reservation is None:
            refusal = self._reservation_refusal(inclusion)  # anything that changed during the check
        if self._pay.reservation is not None and self._pay.reservation.run_key == inclusion.run_key:
            return self._reserved()  # the run's retry, answered while this one checked
        if refusal is not None:
            raise ApplicationError(refusal, type="ReservationRefused", non_retryable=True)
        validated = self._validated
        assert validated is not None  # checked by the validator
        inv, account = self._state.invoice, validated.bank_account
        attempt = self._pay.next_attempt()
        instruction = PaymentInstruction(
            invoice_key=inv.key, attempt=attempt, end_to_end_id=end_to_end_id(inv.key, attempt),
            amount=inv.gross_amount, currency=inv.currency, requested_execution_date=inclusion.execution_date,
            creditor_name=account.holder_name or validated.supplier_name, creditor_iban=account.iban,
            creditor_bic=account.bic, remittance_reference=normalise_reference(inv.supplier_invoice_ref),
            # A US payee without an IBAN is paid by ABA routing and account number in a NACHA
            # file (check_bank_account accepted it for a company paying from a NACHA account).
            **({} if account.iban else {"creditor_routing_number": account.bank_number,
                                        "creditor_account_number": account.account_number}),
        )
        self._pay.reserve(inclusion, instruction)
        return self._reserved()

    def _reserved(self) -> ReservedPayment:
        return ReservedPayment(workflow_id=workflow.info().workflow_id, erp_document=self._state.erp_document,
                               instruction=self._pay.instruction, approvers=list(self._state.approvers))

    @reserve_for_payment_run.validator
    def _validate_reservation(self, inclusion: PaymentRunInclusion) -> None:
        refusal = self._reservation_refusal(inclusion)
        if refusal:
            raise ValueError(refusal)

    def _reservation_refusal(self, inclusion: PaymentRunInclusion) -> str | None:
        if self._pay.reservation is not None:
            if self._pay.reservation.run_key != inclusion.run_key:
                return f"{self._state.invoice.key} is already in payment run {self._pay.reservation.run_key}"
            return None
        if self._state.status != InvoiceStatus.SCHEDULED or self._cancel is not None or self._validated is None:
            return f"{self._state.invoice.key} is {self._state.status.value}, not payable"
        if self._paid_twice_open():
            return (f"{self._state.invoice.key} may already have been paid twice: treasury resolves the "
                    "PaidTwice case first")
        return self._controls_refusal()

    @workflow.signal
    def included_in_payment_run(self, payload: RawValue) -> None:
        sent = self._decode("included_in_payment_run", payload, PaymentSent)
        if sent is not None:
            self._pay.sent(sent)

    @workflow.signal
    def released_from_payment_run(self, payload: RawValue) -> None:
        """The run could not take the invoice after all (e.g. the ERP refused its claim)."""
        sent = self._decode("released_from_payment_run", payload, PaymentSent)
        if sent is not None:
            self._pay.release(sent.run_key)

    @workflow.signal
    def bank_status(self, payload: RawValue) -> None:
        report = self._decode("bank_status", payload, BankStatusReport)
        if report is not None:
            self._apply_bank_report(report)

    @workflow.signal
    def bank_statuses(self, payload: RawValue) -> None:
        """Several answers read in one inbox batch, applied in the order read: the same as that
        many bank_status signals (each is de-duplicated and applied by what it says)."""
        reports = self._decode("bank_statuses", payload, BankStatusReports)
        if reports is not None:
            for report in reports.reports:
                self._apply_bank_report(report)

    @workflow.signal
    def settled(self, payload: RawValue) -> None:
        report = self._decode("settled", payload, BankStatusReport)
        if report is not None:
            self._apply_bank_report(report.model_copy(update={"status": BankStatus.SETTLED}))

    @workflow.signal
    def returned(self, payload: RawValue) -> None:
        report = self._decode("returned", payload, BankStatusReport)
        if report is not None:
            self._apply_bank_report(report.model_copy(update={"status": BankStatus.RETURNED}))

    @workflow.signal
    def bank_rejection(self, payload: RawValue) -> None:
        """Kept for old scripts; the `report_bank_rejection` update answers at once."""
        rejection = self._decode("bank_rejection", payload, BankRejection)
        if rejection is None:
            return
        if not patch_generation.has(EVIDENCE_PATCH):
            self._apply_bank_report(self._pay.manual_rejection(rejection))  # how histories from before ran
            return
        current = self._pay.current
        e2e = rejection.end_to_end_id or (current.end_to_end_id if current else "-")
        # A signal carries no verified identity (architecture invariant 8): whatever name it
        # gives is shown as a claim, and it does what any unverified report does: a visible
        # case and a check with the bank, never a second payment.
        claimed = f"'{rejection.reported_by}'" if rejection.reported_by else "nobody"
        who = f"an unverified bank_rejection signal (names {claimed})"
        try:
            report = ReportBankRejection(reason_code=rejection.reason_code, end_to_end_id=e2e,
                                         reason_text=rejection.reason_text, reported_by=who)
        except ValidationError as err:
            self._input_rejected("bank_rejection", " ".join(str(err).split())[:400])
            return
        refusal = self._report_refusal(e2e)
        if refusal:
            self._input_rejected("bank_rejection", refusal)
            return
        self._take_rejection_report(report)

    @workflow.signal
    def statement_posted(self, payload: RawValue = _NO_CLEARING) -> None:
        """A hint from the bank inbox: a statement touching this invoice reached the ERP, so
        look at the open item now rather than at the next scheduled check. With the ERP's answer
        that it cleared our payment (StatementClearing), there is nothing left to look at."""
        if payload is not _NO_CLEARING:
            clearing = self._decode("statement_posted", payload, StatementClearing)
            if clearing is not None:
                self._pay.take_clearing(clearing)
        self._pay.clearing_hint = True

    def _apply_bank_report(self, report: BankStatusReport) -> None:
        was = self._pay.outcome()
        note = self._pay.apply(report)
        if note:
            self._state.note(note)
        self._raise_paid_twice()
        if was != "settled" and self._pay.outcome() == "settled":
            # Forecast accuracy: the bank's booking date is when the money actually left.
            inv = self._state.invoice
            finance.payment_settled(inv.net_due_date,
                                    report.booking_date or self._pay.live_instruction.requested_execution_date,
                                    inv.gross_amount, inv.currency)
