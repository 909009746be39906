"""A payment run: what treasury asks for, what each invoice answers, and what was paid."""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.money import Money
from canonical.payment import PaymentInstruction
from canonical.status import ErpDocument


class PaymentRunRequest(BaseModel):
    """Input of `PaymentRun` (CLI or a Temporal Schedule)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    paying_account_id: str = Field(min_length=1, description="our account at the bank, e.g. ACME")
    run_date: date | None = Field(default=None, description="default: the day the run starts (what a daily Schedule wants)")
    horizon_days: int = Field(default=0, ge=0, le=60, description="also pay what falls due this many days after the run date")
    run_number: int = Field(default=1, ge=1, le=9, description="a second run on the same day and account needs 2")
    requested_by: str = Field(default="treasury-schedule", min_length=1)
    max_payments_per_file: int = Field(default=500, ge=1, le=1000)
    release_above: Money | None = Field(
        default=None, description="a run whose reserved total exceeds this waits for a `release` update (none: no release)"
    )
    release_sla_hours: float = Field(default=24, gt=0, description="not released by then: visible to treasury-ops")


class PaymentRelease(BaseModel):
    """`release` update of a PaymentRun: someone who approved none of its invoices releases it
    (segregation of duties)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    released_by: str = Field(min_length=1)
    note: str | None = None


class ReservedPayment(BaseModel):
    """A lifecycle's answer to `reserve_for_payment_run`."""

    workflow_id: str
    erp_document: ErpDocument
    instruction: PaymentInstruction
    approvers: list[str] = Field(default_factory=list, description="who approved the invoice")


class Reservations(BaseModel):
    reserved: list[ReservedPayment] = []
    refused: dict[str, str] = Field(default_factory=dict, description="invoice key -> why it is not in the run")


class ReservationRequest(BaseModel):
    run_key: str
    payment_run_id: str
    execution_date: date
    invoice_keys: list[str]


class ErpClaims(BaseModel):
    payment_run_id: str
    run_date: date
    documents: list[ErpDocument]


class ErpClaimResult(BaseModel):
    refused: dict[str, str] = Field(default_factory=dict, description="ERP invoice document -> why")


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
    refused: dict[str, str] = Field(default_factory=dict)
    file_rejected: str | None = None
    released_by: str | None = None

