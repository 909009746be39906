"""What the bank inbox and its statement posts hand their workflows: keys and counts only.
The detail (thousands of signals, a statement's lines) stays in the treasury store, so no
batch, however large, can push a workflow over Temporal's payload or history limits."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.decision_record import DecisionRecord
from canonical.payment import BankStatusReport


class Delivery(BaseModel):
    workflow_id: str
    signal: str
    report: BankStatusReport


class LifecycleSignal(BaseModel):
    """One signal for one lifecycle, queued in the treasury store and sent by an activity."""

    workflow_id: str
    signal: str
    argument: dict[str, Any] | None = None
    hint: bool = Field(default=False, description="a hint to a lifecycle that has ended is moot, not a problem")


class InboxBatch(BaseModel):
    max_messages: int = Field(ge=1)
    max_payments: int = Field(ge=1, description="a batch ends once its messages name this many payments")


class InboxWork(BaseModel):
    message_ids: list[str] = Field(default_factory=list, description="also the outbox batch keys of their signals")
    statements: list[str] = Field(default_factory=list, description="bank message ids of statements to post to the ERP")
    signals_queued: int = 0
    payments: int = 0
    more: bool = Field(default=False, description="more messages wait: the batch ended at its size")
    problems: dict[str, str] = Field(default_factory=dict, description="bank message id -> what could not be applied")


class DeliveryRequest(BaseModel):
    batch_keys: list[str]


class DeliveryReport(BaseModel):
    queued: int = 0
    delivered: int = 0
    ended: int = Field(default=0, description="hints to lifecycles that had already ended")
    failed: int = 0
    lifecycles: list[str] = Field(default_factory=list,
                                  description="the first 200 lifecycles told, for people and tests")
    problems: dict[str, str] = Field(default_factory=dict, description="batch key -> what could not be delivered")


class StatementOutcome(BaseModel):
    bank_message_id: str
    posted: list[str] = Field(default_factory=list, description="statement keys posted to the ERP now (or recovered)")
    already_posted: list[str] = []
    unknown: list[str] = Field(default_factory=list,
                               description="sent without a recorded answer, no trace in the ERP yet")
    hint_batches: list[str] = Field(default_factory=list, description="outbox batches of statement_posted hints")
    lifecycles_to_tell: int = 0
    problems: list[str] = []


class StatementPostRequest(BaseModel):
    schema_version: Literal[1] = 1
    bank_message_id: str
    inbox_workflow_id: str
    settle_seconds: float = Field(default=120, gt=0)
    looks: int = Field(default=5, ge=1)
    rehint_seconds: float = Field(default=60, gt=0)


class StatementReport(BaseModel):
    bank_message_id: str
    posted: list[str] = []
    already_posted: list[str] = []
    lifecycles_told: int = 0
    problems: list[str] = []


class MarkApplied(BaseModel):
    message_ids: list[str]
    problems: dict[str, str] = {}


class InboxProblem(BaseModel):
    bank_message_id: str
    problem: str
    acknowledged_by: str | None = None


class AcknowledgeProblems(BaseModel):
    """`acknowledge_problems` update of the bank inbox: treasury-ops has seen the open problems.
    Who acknowledged is the decision token's subject (architecture invariant 8)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = 2
    token: str = Field(description="a signed `acknowledge_inbox_problems` decision token for the inbox's workflow id")
    note: str | None = None


class BankInboxConfig(BaseModel):
    schema_version: Literal[1] = 1
    poll_seconds: float = Field(default=30, gt=0)
    batch_size: int = Field(default=100, ge=1, description="at most this many bank messages per batch")
    batch_payments: int = Field(default=2000, ge=1,
                                description="a batch ends once its messages name this many payments")
    iterations_before_continue_as_new: int = Field(default=200, ge=1)
    # A statement post whose answer was lost: wait, ask the ERP again, and only after `statement_looks`
    # looks without a trace make it treasury's case. 5 x 2 min covers SAP's 10 min for a big statement.
    statement_settle_seconds: float = Field(default=120, gt=0)
    statement_looks: int = Field(default=5, ge=1)
    # A second statement_posted hint: one that lands while the lifecycle reads the ERP is spent by that read.
    statement_rehint_seconds: float = Field(default=60, gt=0)
    problems: list[InboxProblem] = []
    decisions: list[DecisionRecord] = Field(default=[], description="the newest acknowledgements, carried on")
