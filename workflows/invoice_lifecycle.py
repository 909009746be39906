"""InvoiceToPayment: one approved supplier invoice, one workflow, id from its business key.

RECEIVED → (AWAITING_APPROVAL, unless approved in the AP platform) → VALIDATED → POSTED → SCHEDULED →
(payment run) IN_PAYMENT_RUN. Any step that fails for a reason a person must fix opens an owned exception
case and puts the invoice ON_HOLD until a `resolve` update (or a `cancel`); nothing fails or waits silently.
"""

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.treasury import TreasuryActivities
    from canonical.commands import CancelInvoice, LifecyclePolicy, ResolveException
    from canonical.erp import PaymentBlock, PaymentBlockReason
    from canonical.exceptions import ExceptionOwner
    from canonical.invoice import Invoice
    from canonical.lifecycle_snapshot import LifecycleSnapshot, Stage, WaitingAt, WaitPoint
    from canonical.status import ErpDocument, InvoiceLifecycleStatus, InvoiceStatus
    from canonical.treasury import ExpectedOutflow
    from canonical.validation import PostingOutcome, ValidatedInvoice
    from telemetry import finance

import workflows.activity_options as opts
from workflows import patch_generation
from workflows.ap_decisions import ApDecisions, decider
from workflows.approvals import Approvals, Rejected
from workflows.bank_confirmation import BankConfirmation
from workflows.continuation import Continuation
from workflows.counterpart_calls import LOCAL_ACTIVITIES_PATCH, Counterpart, call
from workflows.deadline_alarm import ONE_ARMED_DEADLINE_PATCH, DeadlineAlarm
from workflows.decision_audit import DecisionAudit
from workflows.exception_cases import CaseBook
from workflows.lifecycle_state import LifecycleState
from workflows.near_duplicates import NearDuplicates
from workflows.operator_inputs import OperatorInputs
from workflows.payee_account import PayeeAccount
from workflows.payment_leg import PaymentLeg
from workflows.payment_messages import PaymentMessages
from workflows.payment_phase import PaymentPhase
from workflows.supplier_answers import SupplierAnswers
from workflows.supplier_controls import SupplierControls

T = TypeVar("T")

POLICY_MEMO = "lifecycle_policy"


class _Cancelled(Exception):
    """Internal: a `cancel` update arrived while the lifecycle waited or worked."""


@workflow.defn(name="InvoiceToPayment")
class InvoiceToPayment(Approvals, ApDecisions, NearDuplicates, SupplierControls, PayeeAccount, SupplierAnswers,
                       PaymentPhase, PaymentMessages,
                       BankConfirmation, OperatorInputs, Continuation):
    @workflow.init
    def __init__(self, invoice: Invoice, resume: LifecycleSnapshot | None = None) -> None:
        # Timers can be tuned per lifecycle through the start memo (tests shorten them); controls
        # can not (approvals.py). The input stays the plain canonical invoice a CLI user writes. `resume`: what the last
        # run knew, when this run continues it (workflows/continuation.py). The SDK decodes by
        # type hints only when the argument count matches: a plain start's invoice is a dict.
        invoice = Invoice.model_validate(invoice)
        self._policy = resume.policy if resume else (
            workflow.memo_value(POLICY_MEMO, default=None, type_hint=LifecyclePolicy) or LifecyclePolicy())
        self._state = LifecycleState(invoice)
        self._cases = CaseBook(invoice.key, timedelta(hours=self._policy.exception_sla_hours),
                               stage=lambda: self._state.status.value)
        self._resolution: ResolveException | None = None
        self._cancel: CancelInvoice | None = None
        self._validated: ValidatedInvoice | None = None
        self._pay = PaymentLeg()
        self._alarm = DeadlineAlarm()  # the timers of this run's waits (_wait)
        self._state.payment_attempts = self._pay.attempts
        self._init_controls()  # e-invoice receipts and bank-detail holds (supplier_controls)
        self._init_payee()  # the account paid, checked against master data (payee_account)
        self._init_approvals()  # approve / reject (approvals)
        self._init_decisions()  # verified decisions, resolve / cancel (ap_decisions)
        self._init_near_duplicates()  # held as a possible duplicate before posting (near_duplicates)
        self._init_answers()  # Peppol Invoice Responses to the supplier (supplier_answers)
        self._init_bank_confirmation()  # only the bank's evidence frees a second payment (bank_confirmation)
        self._init_operator_inputs()  # malformed or unknown signals are shown (operator_inputs)
        self._state.on_change = self._status_changed
        self._cases.outages._on_change = self._state.case_changed
        self._audit = DecisionAudit(self._cases.outages, self._state.invoice.key, lifecycle_call=self._call)
        self._state.on_decided = self._audit.add  # every verified decision into the audit log
        self._init_continuation(resume)  # last, so a continued run's state replaces the fresh one

    @workflow.run
    async def run(self, invoice: Invoice, resume: LifecycleSnapshot | None = None) -> InvoiceLifecycleStatus:
        try:
            return await self._run(resume)
        finally:
            # The SDK adds the run's last command (completion, continue-as-new, failure) as soon as
            # this returns or raises: search attributes still unsent go out before it.
            self._state.send_search_attributes()

    async def _run(self, resume: LifecycleSnapshot | None) -> InvoiceLifecycleStatus:
        if workflow.info().workflow_id != self._state.invoice.workflow_id:
            # Invariant 1: a lifecycle under any other id could run beside the real one.
            raise ApplicationError(
                f"workflow id must be {self._state.invoice.workflow_id!r} (derived from the invoice's business key), "
                f"got {workflow.info().workflow_id!r}",
                type="WorkflowIdMismatch",
                non_retryable=True,
            )
        sender = asyncio.get_running_loop().create_task(self._answer_supplier())
        if resume is None:
            self._state.start(self._cases)
            self._show_invoice_facts()  # for the other lifecycles' near-duplicate checks
            await self._verify_start()  # controls and who the start input names (approvals)
        else:
            self._state.show()
        try:
            await self._flow(resume.waiting if resume else None)
        except _Cancelled:
            await self._withdraw()
        except Rejected:
            pass  # ended CANCELLED by the rejection; nothing reached the ERP
        await self._finish_bank_checks()
        await self._drain_answers(sender)  # a finished lifecycle has answered the supplier
        await self._audit.drained()  # and its decisions are in the audit log
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state.view()

    async def _flow(self, resume: WaitPoint | None) -> None:
        """The main flow. A run that continued as new enters it at the stage it waited in, and
        that stage resumes the wait (`resume`); the stages after it run as usual."""
        start = resume.stage if resume else Stage.APPROVAL
        held = resume.stage if resume and resume.at is WaitingAt.STEP_HOLD else None  # the step it was held in
        if start <= Stage.APPROVAL:
            await self._await_approval(resumed=resume is not None)
        if start <= Stage.VALIDATION:
            self._validated = await self._step(self._validate, Stage.VALIDATION, held=held is Stage.VALIDATION)
            self._state.advance(InvoiceStatus.VALIDATED, f"supplier {self._validated.supplier_name}, "
                                                         f"pays to {self._validated.bank_account.masked()}")
        if start <= Stage.POSTING:
            await self._check_near_duplicates(passed_before=held is Stage.POSTING)
            self._state.erp_document = await self._step(self._post, Stage.POSTING, held=held is Stage.POSTING)
            self._state.advance(InvoiceStatus.POSTED, f"ERP document {self._state.erp_document.invoice_document}")
        if start <= Stage.OUTFLOW:
            await self._step(self._register_outflow, Stage.OUTFLOW, held=held is Stage.OUTFLOW)
            self._state.advance(InvoiceStatus.SCHEDULED,
                                f"due {self._state.invoice.net_due_date}, awaiting a payment run")
        await self._pay_until_cleared(resume if start is Stage.PAYMENT else None)
        self._state.advance(InvoiceStatus.COMPLETED, "paid and cleared in the ERP")

    # -- steps ---------------------------------------------------------------------------
    async def _call(self, activity: Callable, *args, summary: str, via: Counterpart, local: bool = False):
        """Every activity call: outages retry under a self-closing case (counterpart_calls).
        `local`: a read or a keyed treasury write, a local activity in runs since the patch."""
        if not (local and patch_generation.has(LOCAL_ACTIVITIES_PATCH)):
            return await call(activity, *args, summary=summary, via=via, outages=self._cases.outages)
        with self._state.statuses_held():  # its status changes go out with the task's others
            return await call(activity, *args, summary=summary, via=via, outages=self._cases.outages, local=True)

    async def _post(self) -> ErpDocument:
        for _ in range(self._policy.erp_unknown_outcome_limit):
            result = await self._call(ErpActivities.post_supplier_invoice, self._state.invoice,
                                      summary=f"post {self._ref} to the ERP (looks it up first)", via=opts.ERP)
            if result.outcome != PostingOutcome.OUTCOME_UNKNOWN:
                self._state.note(f"ERP answered {result.outcome.value}")
                return result.posted.erp_document
            # The ERP may still be posting it: looking again too soon would miss it and post twice.
            self._state.note("ERP post had no answer; waiting before looking it up again")
            await workflow.sleep(timedelta(seconds=self._policy.erp_settle_seconds),
                                 summary="let the ERP finish an unanswered post")
        raise ApplicationError(
            f"the ERP gave no answer to {self._policy.erp_unknown_outcome_limit} posts and does not show the invoice",
            type="ErpPostingOutcomeUnknown", non_retryable=True,
        )

    async def _register_outflow(self) -> None:
        inv = self._state.invoice
        await self._call(
            TreasuryActivities.register_expected_outflow,
            ExpectedOutflow(invoice_key=inv.key, company_code=inv.company_code, supplier_id=inv.supplier_id,
                            currency=inv.currency, amount=inv.gross_amount, value_date=inv.net_due_date,
                            approvers=list(self._state.approvers)),
            summary=f"expect {inv.gross_amount} {inv.currency} out on {inv.net_due_date}", via=opts.TREASURY,
            local=True,  # keyed by the invoice: a second write changes nothing
        )

    async def _withdraw(self) -> None:
        doc = self._state.erp_document
        if doc is not None:
            # The ERP has no reversal API: block the document so no payment run can pay it.
            block = PaymentBlock(erp_document=doc, reason=PaymentBlockReason.CANCELLED)
            await self._call(ErpActivities.set_payment_block, block,
                             summary=f"block ERP document {doc.invoice_document} for payment", via=opts.ERP)
            await self._call(TreasuryActivities.withdraw_expected_outflow, self._state.invoice.key,
                             summary="withdraw the expected outflow", via=opts.TREASURY)
        cancel = self._cancel
        assert cancel is not None  # _Cancelled is raised for a cancel only
        who = decider(cancel.token, cancel.requested_by)
        if self._cases.open is not None:
            self._cases.close(who.subject, f"invoice cancelled: {cancel.reason}")
            self._state.case_closed()
        verified = "" if who.verified_by == "unverified" else f", verified {who.verified_by}"
        self._state.advance(InvoiceStatus.CANCELLED, f"by {who.subject}{verified}: {cancel.reason}")

    # -- exceptions and waiting ----------------------------------------------------------
    async def _step(self, action: Callable[[], Awaitable[T]], stage: Stage | None = None, held: bool = False) -> T:
        """Run a step; when it fails, hold the invoice under an owned case until resolved. A
        step of the main flow (`stage`) may continue as new while held; `held`: the continued
        run resumes that hold, then runs the step again as the resolution would have."""
        if held:
            await self._hold_step(stage)
            await self._reapprove_if_due()
        while True:
            self._raise_if_cancelled()
            try:
                return await action()
            except (ActivityError, ApplicationError) as err:
                cause = err.cause if isinstance(err, ActivityError) else err
                error_type = cause.type if isinstance(cause, ApplicationError) else type(cause).__name__
                self._open_case(error_type, str(cause.message if isinstance(cause, ApplicationError) else cause),
                                hold=True)
                await self._hold_step(stage)
                await self._reapprove_if_due()  # a correction changed the approved figures (ap_decisions)

    async def _hold_step(self, stage: Stage | None) -> None:
        # A nested step (no stage) keeps whatever its caller allows.
        with self._continuable(WaitPoint(stage=stage, at=WaitingAt.STEP_HOLD)) if stage else nullcontext():
            await self._wait_for_person(lambda: False)

    def _open_case(self, error_type: str | None, reason: str, hold: bool, owner: ExceptionOwner | None = None) -> None:
        case = self._cases.open_case(error_type, reason, owner=owner)
        finance.exception_raised(self._state.status.value, case.type, case.owner.value)
        workflow.logger.info("exception case %s for %s: %s", case.case_id, case.owner.value, case.reason)
        if hold:
            self._state.advance(InvoiceStatus.ON_HOLD, f"{case.type}: {case.reason}")
        self._state.case_changed()

    async def _wait_for_person(self, done: Callable[[], bool]) -> None:
        """Wait for `resolve`, `cancel` or `done`, escalating the case each time its SLA passes."""
        while True:
            case = self._cases.open
            assert case is not None, "a person is awaited under an open case"
            sla_left = case.sla_due_at - workflow.now()
            if await self._wait(lambda: done() or self._resolution is not None, sla_left, "exception SLA"):
                break
            self._cases.escalate()
            self._state.case_changed()
        if self._resolution is not None and self._cases.open is not None:
            res, self._resolution = self._resolution, None
            self._apply_resolution(res)  # corrections, the case closed (ap_decisions)

    async def _wait(self, condition: Callable[[], bool], timeout: timedelta, what: str) -> bool:
        """True when `condition` held before `timeout`; raises _Cancelled on a cancel. At a wait
        marked continuable, the history grown long ends this run for a continued one."""
        wake = lambda: condition() or self._cancel is not None or self._continue_due()  # noqa: E731
        timeout = max(timeout, timedelta(seconds=1))
        if patch_generation.has(ONE_ARMED_DEADLINE_PATCH):
            # A timer already armed by an earlier wait may do (workflows/deadline_alarm.py).
            if not await self._alarm.wait(wake, workflow.now() + timeout, what):
                return False
        else:  # runs recorded before: a timer per wait, cancelled when it ends early
            try:
                await workflow.wait_condition(wake, timeout=timeout, timeout_summary=what)
            except TimeoutError:
                return False
        self._raise_if_cancelled()
        if not condition() and self._continue_due():
            self._continue_as_new()
        return True

    def _raise_if_cancelled(self) -> None:
        if self._cancel is not None:
            raise _Cancelled()

    @property
    def _ref(self) -> str:
        inv = self._state.invoice
        return f"{inv.supplier_invoice_ref} ({inv.gross_amount} {inv.currency})"

    # -- messages ------------------------------------------------------------------------
    @workflow.query
    def status(self) -> InvoiceLifecycleStatus:
        return self._state.view()
