"""What people and other workflows send to an invoice lifecycle (signals and updates), and the
policy that sets its timers. Every decision carries a signed decision token (`token`, schema
version 2): who decided is the token's subject, never a typed name (architecture invariant 8).
The typed person fields of version 1 stay optional so recorded histories replay; a new input
without a valid token is refused by the update's validator."""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from canonical.invoice import Invoice
from canonical.reason_codes import is_iso_status_reason


class ResolveException(BaseModel):
    """`resolve` update: the owner fixed the cause (in the ERP, or by correcting the invoice)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
    token: str | None = Field(default=None, description="signed decision token (decision `resolve`)")
    resolved_by: str | None = Field(default=None, description="version 1 only: who resolved, typed (not trusted)")
    resolution: str = Field(min_length=1, description="what was done, in words")
    corrected_invoice: Invoice | None = Field(
        default=None, description="a corrected invoice with the same business key, validated again"
    )
    bank_account_id: str | None = Field(
        default=None, max_length=4,
        description="pay to this bank account of the supplier (its ERP id) from now on; checked against the ERP",
    )
    bank_details_corrected: bool = Field(
        default=False, description="master data corrected the account the bank refused in the ERP, under the same id")
    case_id: str | None = Field(
        default=None,
        description="the case to resolve (a side case such as PaidTwice); default: the case holding the flow")


class CancelInvoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
    token: str | None = Field(default=None, description="signed decision token (decision `cancel`)")
    requested_by: str | None = Field(default=None, description="version 1 only: who asked, typed (not trusted)")
    reason: str = Field(min_length=1)


class ConfirmBankDetails(BaseModel):
    """`confirm_bank_details` update: master data confirmed a supplier's changed bank details
    (e.g. by calling the supplier back on a number already on file). The confirmer is whoever
    the decision token names (role master-data); where the ERP names who changed the details,
    the confirmer is someone else (four eyes)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
    token: str | None = Field(default=None, description="the confirmer's signed `confirm_bank_details` token")
    confirmed_by: str | None = Field(default=None, min_length=1,
                                     description="schema 1 only: a typed name, no longer trusted (the token says who)")
    note: str = Field(min_length=1, description="how the new details were confirmed, in words")


class ConfirmNotDuplicate(BaseModel):
    """`confirm_not_duplicate` update: AP looked at the other document a PossibleDuplicate case
    names and says this invoice is a different one, so it may be posted. The person is whoever
    the decision token names (an AP role), never the verified submitter (architecture invariant 8)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = 2
    token: str = Field(description="the confirmer's signed `confirm_not_duplicate` token")
    note: str = Field(min_length=1, description="why the invoices are distinct, in words")
    case_id: str | None = Field(default=None, description="the PossibleDuplicate case; default: the one open")


class ApprovalDecision(BaseModel):
    """`approve` / `reject` update: one approver's decision on an invoice in AWAITING_APPROVAL.
    The verified submitter can not approve, and nobody approves twice (architecture invariant 8)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
    token: str | None = Field(default=None, description="signed decision token (decision `approve` or `reject`)")
    approver: str | None = Field(default=None, description="version 1 only: the approver, typed (not trusted)")
    note: str | None = None
    reason: str | None = Field(default=None, description="why the invoice is rejected (required by `reject`)")


class PaymentRunInclusion(BaseModel):
    """`reserve_for_payment_run` update: a payment run asks to pay this invoice."""

    schema_version: Literal[1] = 1
    payment_run_id: str = Field(min_length=1, max_length=6, description="the ERP's run id (F110 LAUFI)")
    run_key: str = Field(min_length=1)
    execution_date: date


class PaymentSent(BaseModel):
    """`included_in_payment_run` signal: the run's file went to the bank with this payment."""

    schema_version: Literal[1] = 1
    run_key: str
    message_id: str
    end_to_end_id: str


class BankRejection(BaseModel):
    """`bank_rejection` signal, kept for old scripts: treasury reports a rejection by hand. It
    never frees a second payment by itself (architecture invariant 11): it opens the same visible
    RejectionNotConfirmed case as `report_bank_rejection`, but a signal can not be verified, so it
    is recorded as an unverified report; a malformed one (a token included) opens a visible case."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    reason_code: str = Field(min_length=4, max_length=4, pattern=r"^[A-Z0-9]{4}$")
    reason_text: str | None = None
    end_to_end_id: str | None = Field(default=None, description="defaults to the current payment attempt")
    reported_by: str | None = Field(default=None, description="never trusted: a signal carries no verified identity")


class ReportBankRejection(BaseModel):
    """`report_bank_rejection` update: treasury says the bank rejected a payment attempt (by
    phone, on the portal). The lifecycle checks with the bank before anything is paid again;
    only the bank's own evidence (pain.002, pacs.004, a statement without the booking) frees a
    new attempt (architecture invariant 11)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
    reason_code: str = Field(description="ISO 20022 ExternalStatusReason1Code, e.g. AC04; or a NACHA return "
                                         "reason code, e.g. R03")
    end_to_end_id: str = Field(min_length=1, max_length=35, description="the attempt the report is about")
    token: str | None = Field(default=None, description="the reporter's signed `report_bank_rejection` token")
    reported_by: str | None = Field(default=None, min_length=1,
                                    description="schema 1 only: a typed name, no longer trusted (the token says who)")
    reason_text: str | None = Field(default=None, max_length=500)

    @field_validator("reason_code")
    @classmethod
    def _iso_code(cls, code: str) -> str:
        if not is_iso_status_reason(code):
            raise ValueError(f"{code!r} is not an ISO 20022 status reason code (e.g. AC04, AM04, RC01; upper case) "
                             "nor a NACHA return reason code (e.g. R03)")
        return code


class LifecyclePolicy(BaseModel):
    """Timers of one lifecycle. Defaults are what AP and treasury agreed; tests shorten them
    (start memo). Controls are not timers: a lifecycle started since `verified-decisions-v1`
    takes its approval thresholds from the worker's configuration (canonical/controls.py) and
    ignores `second_approval_above` here (kept so recorded histories replay)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    second_approval_above: Decimal = Field(
        default=Decimal("10000"), gt=0,
        description="ignored since verified-decisions-v1 (FINSYNC_CONTROLS decides); read by older histories only"
    )
    approval_sla_hours: float = Field(default=24, gt=0, description="nobody approved by then: an ApprovalOverdue case")
    exception_sla_hours: float = Field(default=48, gt=0, description="time to resolve before escalation")
    payment_run_grace_days: int = Field(default=3, ge=0, description="after the due date, before treasury is told")
    erp_settle_seconds: float = Field(
        default=180, gt=0, description="after a post with unknown outcome, wait this long before looking again"
    )
    erp_unknown_outcome_limit: int = Field(default=5, ge=1)
    bank_status_sla_hours: float = Field(default=24, gt=0, description="no pain.002 by then: the bank is silent")
    settlement_sla_days: float = Field(default=3, gt=0, description="accepted but not settled by then")
    clearing_check_hours: float = Field(default=6, gt=0, description="settled: look at the ERP's open item this often")
    clearing_sla_days: float = Field(default=2, gt=0, description="settled but not cleared in the ERP by then")
    bank_check_minutes: float = Field(
        default=240, gt=0, description="a rejection the bank has not confirmed: look at its messages again this often")
    continue_after_events: int = Field(
        default=8000, ge=20, description="continue as new at a long wait once the history has this many events, if "
                                         "Temporal has not suggested it before (it does at 4,096 by default)")
