"""What an invoice lifecycle carries into its next run when it continues as new (the second
argument of InvoiceToPayment.run): everything it knows, typed, and where it was waiting.

A lifecycle can live for months; Temporal ends a run at 51,200 events or 50 MB of history, so
the lifecycle continues as new at its long waits (workflows/continuation.py). Nothing in here
is derived again: the next run answers the status query exactly as this one did, resumes the
same wait with the same case (id, SLA, escalation), and repeats no write. What grows without
bound is bounded here (history notes, bank-answer keys); see the limits below.

Bank details ride along (the validated invoice's IBAN, the payment instruction, the e-invoice
receipt): the payload codec encrypts the whole input, as it does any payload carrying them.
"""

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.commands import ConfirmBankDetails, LifecyclePolicy, PaymentRunInclusion, ResolveException
from canonical.controls import ControlPolicy
from canonical.decision_record import DecisionRecord
from canonical.decisions import Approval
from canonical.einvoice import EInvoiceReceipt, EInvoiceReceiptRecord
from canonical.exceptions import ExceptionCase
from canonical.invoice import Invoice
from canonical.invoice_response import InvoiceResponse, ResponseCode
from canonical.payment import PaymentInstruction
from canonical.status import ErpDocument, InvoiceStatus, PaymentAttempt, StatusChange
from canonical.validation import PayeeClaim, ValidatedInvoice
from canonical.vendors import BankDetailsChange

MAX_BANK_ANSWER_KEYS = 1000  # the newest (message, EndToEndId, status) keys kept for de-duplication
MAX_LATE_ANSWERS = 50  # notes about answers for superseded attempts
MAX_CLOSED_CASES = 200  # per book (cases for people, outage cases): the newest stay visible


class Stage(IntEnum):
    """The main flow, in order: a continued run starts again at the stage it waited in."""

    APPROVAL = 1
    VALIDATION = 2
    POSTING = 3
    OUTFLOW = 4  # registering the expected outflow with treasury
    PAYMENT = 5


class WaitingAt(StrEnum):
    """The waits a lifecycle may continue as new in, and so resume at."""

    APPROVAL = "approval"  # AWAITING_APPROVAL, with or without an ApprovalOverdue case
    STEP_HOLD = "step-hold"  # ON_HOLD after a step of the main flow failed (stage says which)
    RESERVATION = "reservation"  # SCHEDULED, waiting for a payment run (with or without NotInPaymentRun)
    DOCUMENT_CONFLICT = "document-conflict"  # held for AP: which e-invoice is right
    BANK_DETAILS = "bank-details"  # held until someone confirms the supplier's changed bank details
    REMEDIATION = "remediation"  # AWAITING_REMEDIATION after a rejection or return (and its holds)
    CLEARING = "clearing"  # SETTLED, waiting for the ERP to clear the item


class WaitPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Stage
    at: WaitingAt
    deadline: datetime | None = Field(default=None, description="clearing: when its SLA ends (NotCleared)")
    next_look_at: datetime | None = Field(default=None, description="clearing: when the ERP's open item is read next")
    conflicts_held: int = Field(default=0, description="document conflicts its DuplicateReferenceConflict case covers")


class CaseBookSnapshot(BaseModel):
    sequence: int  # case ids go on from here: <key>#<n>
    open: ExceptionCase | None = None
    side: list[ExceptionCase] = []
    closed: list[ExceptionCase] = []
    outage_sequence: int = 0
    outages_open: dict[str, ExceptionCase] = {}  # by counterpart name
    outages_closed: list[ExceptionCase] = []


class PaymentLegSnapshot(BaseModel):
    attempts: list[PaymentAttempt] = []
    instruction: PaymentInstruction | None = None
    reservation: PaymentRunInclusion | None = None
    clearing_hint: bool = False
    seen_answers: list[str] = Field(default=[], description="bank-answer keys, oldest first")
    late_answers: list[str] = []
    paid_twice: list[str] = []
    confirmed: list[str] = []  # EndToEndIds whose failure the bank confirmed
    rejected_accounts: list[str] = []  # digests, never IBANs


class StateSnapshot(BaseModel):
    status: InvoiceStatus
    before_hold: InvoiceStatus
    history: list[StatusChange]
    erp_document: ErpDocument | None = None
    payment_run_id: str | None = None
    einvoice_receipts: list[EInvoiceReceiptRecord] = []
    approvers: list[str] = []
    decisions: list[DecisionRecord] = []
    submitted_by: str | None = None
    approval_needed: str | None = None
    first_entered: dict[str, datetime] = Field(default={}, description="metrics: when each status was first entered")
    started_at: datetime = Field(description="when the lifecycle's first run started (cycle-time metric)")


class PendingAnswer(BaseModel):
    """A status change the supplier is still to be told about, once a receipt names them."""

    code: ResponseCode
    reasons: list[tuple[str, str]] = []
    note: str = ""


class AnswersSnapshot(BaseModel):
    receipt: EInvoiceReceipt | None = None
    pending: list[PendingAnswer] = []
    codes: list[ResponseCode] = Field(default=[], description="codes already enqueued: never sent twice")
    queue: list[InvoiceResponse] = []


class ControlsSnapshot(BaseModel):
    seen_documents: list[str] = []
    conflicts: list[str] = []
    conflict_case_id: str | None = None
    documents_refused: int = 0  # distinct e-invoice documents intake refused (the einvoice_refused signal)
    bank_changes: list[BankDetailsChange] = []
    bank_case_id: str | None = None
    bank_confirmation: ConfirmBankDetails | None = None
    input_case_id: str | None = None  # the OperatorInputRejected side case collecting refusals
    cooling_off_until: datetime | None = None  # confirmed bank details: no payment to them before this
    payee_claims: list[PayeeClaim] = []  # e-invoice payee accounts not yet compared with the ERP's
    confirmed_accounts: list[str] = []  # fingerprints of accounts master data confirmed


class DecisionsSnapshot(BaseModel):
    """Verified decisions (since verified-decisions-v1): absent in snapshots of older runs."""

    controls: ControlPolicy
    approvals: list[Approval] = []
    submitter: str | None = None
    excluded: dict[str, str] = Field(default={}, description="who may not approve the current figures, and why")
    used_tokens: list[str] = []
    reapproval_due: bool = False


class LifecycleSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    invoice: Invoice = Field(description="as it stands now: a resolution may have corrected it")
    policy: LifecyclePolicy
    waiting: WaitPoint
    state: StateSnapshot
    cases: CaseBookSnapshot
    validated: ValidatedInvoice | None = None
    approval_due: datetime | None = None
    payment: PaymentLegSnapshot
    controls: ControlsSnapshot
    answers: AnswersSnapshot
    resolution: ResolveException | None = Field(default=None, description="a resolution not yet acted on")
    runs: int = Field(default=1, description="how many runs this lifecycle has had before the next one")
    decisions: DecisionsSnapshot | None = None
