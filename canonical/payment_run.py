"""A payment run: what treasury asks for, what each invoice answers, and what was paid."""

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.bank import PayingAccount
from canonical.decision_record import DecisionRecord
from canonical.money import Money
from canonical.payment import PaymentInstruction
from canonical.status import ErpDocument


class PaymentRunRequest(BaseModel):
    """Input of `PaymentRun` (CLI or a Temporal Schedule). Who requested the run is never typed
    (architecture invariant 8): a run a Schedule starts is requested by `schedule:<id>`, a run a
    person starts carries their `request_run` token (`python -m cli decision request_run ...`)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
    paying_account_id: str = Field(min_length=1, description="our account at the bank, e.g. ACME")
    run_date: date | None = Field(default=None,
                                  description="default: the day the run starts (what a daily Schedule wants)")
    horizon_days: int = Field(default=0, ge=0, le=60,
                              description="also pay what falls due this many days after the run date")
    run_number: int = Field(default=1, ge=1, le=9, description="a second run on the same day and account needs 2")
    token: str | None = Field(default=None, description="the requester's signed `request_run` decision token, bound "
                                                        "to this run's workflow id; none: only a Schedule may start it")
    requested_by: str | None = Field(default=None, min_length=1,
                                     description="schema 1 only: a typed name, no longer trusted (the token says who)")
    max_payments_per_file: int = Field(default=500, ge=1, le=1000)
    release_above: Money | None = Field(
        default=None,
        description="may only LOWER the worker's `release_above` control (FINSYNC_CONTROLS) for this run; a run "
                    "whose selected total exceeds the lower of the two waits for a `release`"
    )
    release_sla_hours: float = Field(default=24, gt=0, description="not released by then: visible to treasury-ops")


class PaymentRelease(BaseModel):
    """`release` update of a PaymentRun: a verified treasury releaser who approved none of its
    invoices and did not request the run releases it (segregation of duties)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1, 2] = 2
    token: str | None = Field(default=None, description="the releaser's signed `release` decision token")
    released_by: str | None = Field(default=None, min_length=1,
                                    description="schema 1 only: a typed name, no longer trusted (the token says who)")
    note: str | None = None


class ReservedPayment(BaseModel):
    """A lifecycle's answer to `reserve_for_payment_run`."""

    workflow_id: str
    erp_document: ErpDocument
    instruction: PaymentInstruction
    approvers: list[str] = Field(default_factory=list, description="who approved the invoice")


# What activities hand back to the run: keys and counts only. The detail (the selection, each
# reservation and instruction, each file's bytes) stays in the treasury store under the run key,
# so no payload and no history grows with the number of invoices (architecture invariant 3).

class SelectionRequest(BaseModel):
    run_key: str
    payment_run_id: str
    paying_account_id: str
    run_date: date
    company_code: str
    currency: str
    due_by: date


class RunSelection(BaseModel):
    invoices: int = 0
    total: Money = Decimal("0")
    approvers: list[str] = Field(default_factory=list, description="everyone who approved a selected invoice")
    approvers_unknown: int = Field(default=0,
                                   description="invoices whose outflow names no approver (checked at reservation)")


class ReservationRequest(BaseModel):
    run_key: str
    payment_run_id: str
    execution_date: date
    released_by: str | None = Field(default=None, description="an invoice this person approved leaves the run")


class Reservations(BaseModel):
    reserved: int = 0
    total: Money = Decimal("0")
    refused: int = 0
    dropped: int = Field(default=0, description="reserved, but the run can not pay it: its lifecycle is released")
    refused_sample: dict[str, str] = Field(default_factory=dict, description="invoice key -> why (the first few)")


class ErpClaims(BaseModel):
    run_key: str
    payment_run_id: str
    run_date: date


class ErpClaimResult(BaseModel):
    claimed: int = 0
    refused: int = 0
    resumed_from: int = Field(default=0, description="already claimed by an earlier attempt when this one started")
    refused_sample: dict[str, str] = Field(default_factory=dict, description="invoice key -> why (the first few)")


class PaymentFilesRequest(BaseModel):
    run_key: str
    execution_date: date
    created_at: datetime
    max_payments_per_file: int
    debtor: PayingAccount


class PaymentFileRef(BaseModel):
    """A built pain.001 kept in the treasury store; its sha256 in history pins its bytes."""

    message_id: str
    number: int
    sha256: str
    payments: int
    total: Money


class LifecycleNotice(BaseModel):
    """Tell the lifecycles of a run (or of one of its files) what became of their payment."""

    run_key: str
    kind: Literal["included", "rejected", "released"]
    message_id: str | None = None
    reason_code: str | None = None


class NoticeResult(BaseModel):
    told: int = 0
    unreachable: int = Field(default=0, description="lifecycles that had ended: nothing to tell")


class UnsentRelease(BaseModel):
    """Free what a run reserved but never sent (after a failure, or by `payment-run recover`)."""

    run_key: str
    requested_by: str
    reason: str


class UnsentReleaseResult(BaseModel):
    freed: int = 0
    claims_released: int = 0
    refused: dict[str, str] = Field(default_factory=dict,
                                    description="invoice key -> why it stays (may be at the bank)")
    told_sent: int = Field(default=0, description="in a file the bank took: told `included`, not freed")


class DueInvoicesQuery(BaseModel):
    company_code: str
    currency: str
    due_by: date


class PaymentRunSummary(BaseModel):
    schema_version: Literal[1] = 1
    run_key: str
    payment_run_id: str
    message_ids: list[str] = []
    paid_invoices: int = 0
    total: Money = Decimal("0")
    currency: str
    selected: int = 0
    not_taken: int = Field(default=0, description="selected but not paid: refused by its lifecycle or the ERP")
    refused: dict[str, str] = Field(default_factory=dict,
                                    description="invoice key -> why (the first few; all in the store)")
    file_rejected: str | None = None
    released_by: str | None = Field(default=None, description="the verified releaser (subject)")
    execution_date: date | None = None
    requested_by: str | None = Field(default=None, description="schedule:<id>, or the verified requester (subject)")
    release_above: Money | None = Field(default=None, description="the release limit the run applied")
    decisions: list[DecisionRecord] = Field(default_factory=list, description="the run's verified decisions")

