"""What the parts of InvoiceToPayment (approvals.py, ap_decisions.py, supplier_controls.py, supplier_answers.py,
payment_phase.py, payment_messages.py, bank_confirmation.py, operator_inputs.py,
continuation.py, payee_account.py, near_duplicates.py, duplicate_confirmation.py) use of the whole: the state
InvoiceToPayment.__init__ and the parts' _init_* set up, and the methods one part calls on another.

For the type checker only. At run time LifecycleParts is an empty base class: it adds no
attribute, method, handler or command, so the workflow and its histories are unchanged.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Sequence
    from contextlib import AbstractContextManager
    from datetime import datetime, timedelta
    from typing import Any, TypeVar

    from temporalio.common import RawValue

    from canonical.commands import CancelInvoice, LifecyclePolicy, ReportBankRejection, ResolveException
    from canonical.controls import ControlPolicy
    from canonical.decisions import Approval
    from canonical.einvoice import EInvoiceReceipt
    from canonical.exceptions import ExceptionOwner
    from canonical.lifecycle_snapshot import Stage, WaitPoint
    from canonical.payment import BankStatusReport
    from canonical.validation import PayeeClaim, ValidatedInvoice
    from canonical.vendors import BankDetailsChange
    from workflows.counterpart_calls import Counterpart
    from workflows.decision_audit import DecisionAudit
    from workflows.decisions import VerifiedPerson
    from workflows.exception_cases import CaseBook
    from workflows.lifecycle_state import LifecycleState
    from workflows.payment_leg import PaymentLeg

    T = TypeVar("T")
    M = TypeVar("M")


class LifecycleParts:
    if TYPE_CHECKING:
        # -- state (InvoiceToPayment.__init__ and the parts' _init_*) -----------------------
        _policy: LifecyclePolicy
        _state: LifecycleState
        _cases: CaseBook
        _resolution: ResolveException | None
        _cancel: CancelInvoice | None
        _validated: ValidatedInvoice | None  # set once validation passed
        _pay: PaymentLeg
        _bank_checks: list[asyncio.Task]  # bank_confirmation
        _audit: DecisionAudit  # decisions into the audit log (decision_audit)
        _conflicts: list[str]  # supplier_controls
        _awaiting_approval: bool  # approvals
        _approval_due: datetime | None
        _controls: ControlPolicy | None  # ap_decisions
        _approvals: list[Approval]
        _submitter: str | None
        _excluded: dict[str, str]
        _used_tokens: list[str]
        _reapproval_due: bool

        # -- steps, cases and waits (invoice_lifecycle) -------------------------------------
        async def _call(self, activity: Callable, *args: Any, summary: str, via: Counterpart,
                        local: bool = False) -> Any: ...
        async def _step(self, action: Callable[[], Awaitable[T]], stage: Stage | None = None,
                        held: bool = False) -> T: ...
        async def _validate(self) -> ValidatedInvoice: ...
        async def _register_outflow(self) -> None: ...
        def _open_case(self, error_type: str | None, reason: str, hold: bool,
                       owner: ExceptionOwner | None = None) -> None: ...
        async def _wait_for_person(self, done: Callable[[], bool]) -> None: ...
        async def _wait(self, condition: Callable[[], bool], timeout: timedelta, what: str) -> bool: ...
        def _raise_if_cancelled(self) -> None: ...

        # -- approvals ----------------------------------------------------------------------
        async def _await_approval(self, resumed: bool = False, again: bool = False) -> None: ...
        def _needed_text(self) -> str: ...

        # -- ap_decisions -------------------------------------------------------------------
        def _verified(self, token: str | None, decision: str) -> VerifiedPerson: ...
        def _check_four_eyes(self, subject: str, action: str) -> None: ...
        def _decided(self, d: Any, action: str, note: str | None, before: str | None = None,
                     after: str | None = None) -> None: ...
        def _apply_resolution(self, res: ResolveException) -> None: ...
        async def _reapprove_if_due(self) -> None: ...

        # -- payment_phase / supplier_controls (the resolve validator) -----------------------
        def _check_payee_change(self, request: ResolveException) -> None: ...
        def _check_resolve(self, request: ResolveException) -> None: ...
        @property
        def _ref(self) -> str: ...

        # -- continuation -------------------------------------------------------------------
        def _continuable(self, at: WaitPoint) -> AbstractContextManager[None]: ...

        # -- payment_phase ------------------------------------------------------------------
        async def _wait_or_case(self, condition: Callable[[], bool], timeout: timedelta, case_type: str,
                                reason: str) -> None: ...

        # -- supplier_controls --------------------------------------------------------------
        def _controls_pending(self) -> bool: ...
        def _controls_refusal(self) -> str | None: ...
        async def _apply_controls(self) -> None: ...
        async def _resume_controls(self, resume: WaitPoint) -> None: ...
        def _bank_details_changed(self, change: BankDetailsChange) -> None: ...

        # -- payee_account ------------------------------------------------------------------
        _payee_claims: list[PayeeClaim]
        _cooling_off_until: datetime | None
        _confirmed_accounts: list[str]
        def _take_payee_claim(self, receipt: EInvoiceReceipt) -> None: ...
        def _payee_claims_pending(self) -> bool: ...
        async def _account_refusal(self) -> str | None: ...
        async def _start_cooling_off(self, confirmed: list[BankDetailsChange]) -> None: ...
        def _cooling_off_refusal(self) -> str | None: ...

        # -- supplier_answers ---------------------------------------------------------------
        def _receipt_for_answers(self, receipt: EInvoiceReceipt) -> None: ...

        # -- payment_messages ---------------------------------------------------------------
        def _apply_bank_report(self, report: BankStatusReport) -> None: ...

        # -- bank_confirmation --------------------------------------------------------------
        def _take_rejection_report(self, report: ReportBankRejection) -> str: ...
        def _report_refusal(self, end_to_end_id: str) -> str | None: ...
        async def _bank_confirms_failure(self) -> bool: ...
        def _raise_paid_twice(self) -> None: ...
        def _paid_twice_open(self) -> bool: ...

        # -- operator_inputs ----------------------------------------------------------------
        def _decode(self, name: str, payload: RawValue, model: type[M]) -> M | None: ...
        def _input_rejected(self, name: str, why: str) -> None: ...
        def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None: ...
