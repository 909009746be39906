"""What the bank inbox hands its workflow: signals to deliver and statements to post."""

from typing import Literal

from pydantic import BaseModel, Field

from canonical.payment import BankStatusReport


class Delivery(BaseModel):
    workflow_id: str
    signal: str
    report: BankStatusReport


class InboxWork(BaseModel):
    deliveries: list[Delivery] = []
    statements: list[str] = Field(default_factory=list, description="bank message ids of statements to post to the ERP")
    message_ids: list[str] = []
    problems: dict[str, str] = Field(default_factory=dict, description="bank message id -> what could not be applied")


class StatementOutcome(BaseModel):
    bank_message_id: str
    posted: list[str] = Field(default_factory=list, description="statement keys posted to the ERP now")
    already_posted: list[str] = []
    notify_workflow_ids: list[str] = Field(default_factory=list, description="lifecycles whose ERP item this statement cleared or reopened")
    problems: list[str] = []


class MarkApplied(BaseModel):
    message_ids: list[str]
    problems: dict[str, str] = {}


class InboxProblem(BaseModel):
    bank_message_id: str
    problem: str
    acknowledged_by: str | None = None


class BankInboxConfig(BaseModel):
    schema_version: Literal[1] = 1
    poll_seconds: float = Field(default=30, gt=0)
    batch_size: int = Field(default=100, ge=1)
    iterations_before_continue_as_new: int = Field(default=200, ge=1)
    problems: list[InboxProblem] = []
