"""Who decided what on a lifecycle, as verified (architecture invariants 8 and 13): the records
the status query shows and the audit trail takes, the approvals that count, and the verdict on
what a start input claims about its submitter and an AP-platform approval."""

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from canonical.controls import ControlPolicy
from canonical.decision_record import DecisionRecord
from canonical.invoice import Invoice
from canonical.money import Money


class Approval(BaseModel):
    """An approval that counts toward the invoice's figures (`gross`, `currency`, `bank_account_id`)."""

    model_config = ConfigDict(frozen=True)

    subject: str
    verified_by: str
    token_id: str
    covers: bool = Field(description="the approver's limit (or the AP platform's trust) covers the gross amount")
    limit: Money | None = Field(default=None, description="the highest gross this approval covers; None: any")


class StartCheck(BaseModel):
    """What the start-verification local activity is asked: the tokens of a start input,
    checked against the workflow's clock."""

    invoice: Invoice
    workflow_id: str
    now: datetime


class StartVerdict(BaseModel):
    """Recorded in history once, at the lifecycle's start: a replay decides the same with any keys."""

    submitter: str | None = Field(default=None, description="the verified submitter (submission token or AP platform)")
    submitter_verified_by: str | None = None
    submission_refused: str | None = None
    platform_approver: str | None = None
    platform_verified_by: str | None = None
    platform_token_id: str | None = None
    platform_refused: str | None = Field(default=None, description="why a typed approved_by is not honoured")


class StartAdmission(BaseModel):
    """Both answers a new lifecycle records at its start, from one activity: the controls it runs
    under and the verdict on its start input (activities/start_checks.py)."""

    controls: ControlPolicy
    verdict: StartVerdict


class Figures(BaseModel):
    """What an approval is for: changing any of these after approval needs approval again."""

    model_config = ConfigDict(frozen=True)

    gross_amount: Decimal
    currency: str
    bank_account_id: str | None

    @classmethod
    def of(cls, invoice: Invoice) -> "Figures":
        return cls(gross_amount=invoice.gross_amount, currency=invoice.currency,
                   bank_account_id=invoice.bank_account_id)

    def __str__(self) -> str:
        return f"{self.gross_amount} {self.currency} to account {self.bank_account_id or '(default)'}"


__all__ = ["Approval", "DecisionRecord", "Figures", "StartAdmission", "StartCheck", "StartVerdict"]
