"""Exception cases: every failure that needs a person has a type, an owner and an SLA
(DESIGN invariant 7), never just a log line."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class ExceptionOwner(StrEnum):
    AP_REMEDIATION = "ap-remediation"
    TREASURY_OPS = "treasury-ops"
    MASTER_DATA = "master-data"
    BUYER = "buyer"
    # Whoever runs the integrations: an ERP or store outage is theirs, never AP's.
    INTEGRATION_OPS = "integration-ops"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ExceptionCase(BaseModel):
    schema_version: Literal[1] = 1
    case_id: str
    type: str = Field(description="the named error type, e.g. SupplierBlocked, InvalidBankAccount")
    owner: ExceptionOwner
    severity: Severity = Severity.MEDIUM
    reason: str
    opened_at: datetime
    sla_due_at: datetime
    escalated: bool = False
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None


# Who owns each named failure. Activity errors carry these names as ApplicationError types;
# the lifecycle turns them into cases for this owner.
EXCEPTION_OWNERS: dict[str, ExceptionOwner] = {
    "UnknownSupplier": ExceptionOwner.MASTER_DATA,
    "SupplierBlocked": ExceptionOwner.MASTER_DATA,
    "MissingBankAccount": ExceptionOwner.MASTER_DATA,
    "InvalidBankAccount": ExceptionOwner.MASTER_DATA,
    "UnknownCompanyCode": ExceptionOwner.AP_REMEDIATION,
    "CurrencyNotAllowed": ExceptionOwner.AP_REMEDIATION,
    "UnknownPurchaseOrder": ExceptionOwner.BUYER,
    "PurchaseOrderMismatch": ExceptionOwner.BUYER,
    "NotPostableInErp": ExceptionOwner.AP_REMEDIATION,
    "ErpRejectedPosting": ExceptionOwner.AP_REMEDIATION,
    "DuplicateReferenceConflict": ExceptionOwner.AP_REMEDIATION,
    "PossibleDuplicate": ExceptionOwner.AP_REMEDIATION,
    "BankDetailsChanged": ExceptionOwner.MASTER_DATA,
    "PayeeAccountMismatch": ExceptionOwner.MASTER_DATA,
    "ErpPostingOutcomeUnknown": ExceptionOwner.AP_REMEDIATION,
    "ApprovalOverdue": ExceptionOwner.AP_REMEDIATION,
    "NotInPaymentRun": ExceptionOwner.TREASURY_OPS,
    "PaymentRunStalled": ExceptionOwner.TREASURY_OPS,
    "BankSilent": ExceptionOwner.TREASURY_OPS,
    "NotSettled": ExceptionOwner.TREASURY_OPS,
    "NotCleared": ExceptionOwner.TREASURY_OPS,
    "NotReopened": ExceptionOwner.TREASURY_OPS,
    "BankReconciliation": ExceptionOwner.TREASURY_OPS,
    "ErpUnavailable": ExceptionOwner.INTEGRATION_OPS,
    "TreasuryStoreUnavailable": ExceptionOwner.INTEGRATION_OPS,
    "LifecycleCallsFailing": ExceptionOwner.INTEGRATION_OPS,
    "NearDuplicateSearchFailing": ExceptionOwner.INTEGRATION_OPS,
    "EInvoicingUnavailable": ExceptionOwner.INTEGRATION_OPS,
    "BankUnavailable": ExceptionOwner.TREASURY_OPS,
    "PayingAccountBusy": ExceptionOwner.TREASURY_OPS,
}


def owner_of(error_type: str | None) -> ExceptionOwner:
    # An unnamed failure (e.g. the ERP unreachable past the step's deadline) still needs an
    # owner; AP remediation owns posting, so it gets what nobody else claims.
    return EXCEPTION_OWNERS.get(error_type or "", ExceptionOwner.AP_REMEDIATION)
