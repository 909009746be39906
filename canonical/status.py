"""Where an invoice stands (DESIGN.md lifecycle), and what the status query returns."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from canonical.decision_record import DecisionRecord
from canonical.einvoice import EInvoiceReceiptRecord
from canonical.exceptions import ExceptionCase
from canonical.money import Money


class InvoiceStatus(StrEnum):
    RECEIVED = "RECEIVED"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    VALIDATED = "VALIDATED"
    POSTED = "POSTED"
    SCHEDULED = "SCHEDULED"
    IN_PAYMENT_RUN = "IN_PAYMENT_RUN"
    SENT_TO_BANK = "SENT_TO_BANK"
    ACCEPTED = "ACCEPTED"
    SETTLED = "SETTLED"
    CLEARED = "CLEARED"
    COMPLETED = "COMPLETED"
    ON_HOLD = "ON_HOLD"
    BANK_REJECTED = "BANK_REJECTED"
    AWAITING_REMEDIATION = "AWAITING_REMEDIATION"
    RETURNED = "RETURNED"
    REOPENED = "REOPENED"
    CANCELLED = "CANCELLED"


class StatusChange(BaseModel):
    status: InvoiceStatus
    at: datetime
    note: str = ""


class ErpDocument(BaseModel):
    """The ERP's keys for a posted invoice, opaque to workflows: they keep it, hand it back to
    the ERP port and print `invoice_document`. `erp` names the ERP instance that made it (the
    legal entities' configuration, canonical/entities.py); documents recorded before there were
    several ERPs are SAP's. `fiscal_year` and `accounting_document` are the adapter's parts (SAP:
    the invoice's year and the accounting document, the key into open items and clearing)."""

    invoice_document: str
    fiscal_year: str = ""
    accounting_document: str = ""
    erp: str = "sap"


class PaymentAttempt(BaseModel):
    """One try at paying the invoice; a rejected or returned attempt is followed by a new
    one with a new EndToEndId, never by a resend of the old one."""

    attempt: int
    end_to_end_id: str
    payment_run_id: str | None = None
    run_key: str | None = None
    message_id: str | None = None
    outcome: str = "reserved"  # reserved, sent, accepted, settled, rejected, returned, released
    reason_code: str | None = None
    reason: str | None = None  # the reason code in words
    bank_messages: list[str] = []
    reported_rejection: str | None = Field(default=None,
                                           description="a person's report of a rejection, not yet the bank's")
    bank_evidence: str | None = Field(default=None, description="what the bank's own messages showed when checked")
    treasury_booked: bool = Field(default=False, description="the bank inbox made the treasury outflow actual")


class InvoiceLifecycleStatus(BaseModel):
    """Answer of the `status` query: the business state, readable by a finance engineer."""

    schema_version: Literal[1] = 1
    invoice_key: str
    status: InvoiceStatus
    supplier_id: str
    company_code: str
    gross_amount: Money
    currency: str
    due_date: str
    erp_document: ErpDocument | None = None
    payment_run_id: str | None = None
    payment_attempts: list[PaymentAttempt] = []
    open_exception: ExceptionCase | None = Field(
        default=None, description="the case waiting for a person, else the oldest open outage case")
    open_side_cases: list[ExceptionCase] = Field(
        default_factory=list, description="cases for a person that do not hold the flow (e.g. PaidTwice)")
    open_outages: list[ExceptionCase] = Field(
        default_factory=list, description="counterparts failing past their outage SLA; these cases close themselves")
    closed_exceptions: list[ExceptionCase] = []
    history: list[StatusChange] = Field(default_factory=list)
    approvers: list[str] = Field(
        default_factory=list, description="who approved the invoice (the AP platform's approver, or `approve` updates)")
    bank_account_id: str | None = Field(default=None, description="the supplier bank account (ERP id) paid")
    submitted_by: str | None = Field(
        default=None, description="who submitted it: the verified subject, or the typed name marked (unverified)")
    approval_needed: str | None = Field(default=None, description="while awaiting approval: what is still needed")
    decisions: list[DecisionRecord] = Field(
        default_factory=list, description="verified decisions on this invoice (approve, reject, resolve, cancel)")
    einvoice_receipts: list[EInvoiceReceiptRecord] = Field(
        default_factory=list, description="e-invoice documents pushed for this invoice (the newest 50), no bank details"
    )
