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
