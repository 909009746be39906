"""What people and other workflows send to an invoice lifecycle (signals and updates), and the
policy that sets its timers. Every command names who sent it (DESIGN invariant 8)."""

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.invoice import Invoice


class ResolveException(BaseModel):
    """`resolve` update: the owner fixed the cause (in the ERP, or by correcting the invoice)."""

    model_config = ConfigDict(extra="forbid")

    resolved_by: str = Field(min_length=1)
    resolution: str = Field(min_length=1, description="what was done, in words")
    corrected_invoice: Invoice | None = Field(
        default=None, description="a corrected invoice with the same business key, validated again"
    )


class CancelInvoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requested_by: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class PaymentRunInclusion(BaseModel):
    """`included_in_payment_run` signal from a payment run."""

    payment_run_id: str = Field(min_length=1, max_length=6)
    run_date: date


class LifecyclePolicy(BaseModel):
    """Timers of one lifecycle. Defaults are what AP and treasury agreed; tests shorten them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    exception_sla_hours: float = Field(default=48, gt=0, description="time to resolve before escalation")
    payment_run_grace_days: int = Field(default=3, ge=0, description="after the due date, before treasury is told")
    erp_settle_seconds: float = Field(
        default=180, gt=0, description="after a post with unknown outcome, wait this long before looking again"
    )
    erp_unknown_outcome_limit: int = Field(default=5, ge=1)
