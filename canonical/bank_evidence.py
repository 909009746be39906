"""What the bank's own messages say about one payment attempt. A person's report of a
rejection is checked against this before a second payment may follow (architecture
invariant 11): only `rejected`, `returned` or `not_booked` free a new attempt."""

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from canonical.money import Money


class Evidence(StrEnum):
    NONE = "none"  # the bank has said nothing conclusive yet
    REJECTED = "rejected"  # a pain.002 RJCT for this EndToEndId in this MsgId
    BOOKED = "booked"  # a debit booked for it (camt.054/052/053): the money left
    RETURNED = "returned"  # a pacs.004 (or return credit) for it
    NOT_BOOKED = "not_booked"  # a balanced statement past value date + margin without it


class BankEvidenceQuery(BaseModel):
    schema_version: Literal[1] = 1
    end_to_end_id: str
    message_id: str = Field(description="the MsgId of the file the attempt went out in")
    value_date: date = Field(description="the requested execution date of the attempt")
    request_intraday_report: bool = Field(default=False,
                                          description="ask the bank for a camt.052 of the debtor account")


class BankEvidence(BaseModel):
    schema_version: Literal[1] = 1
    evidence: Evidence
    detail: str
    bank_message_id: str | None = None
    reason_code: str | None = None
    booking_date: date | None = None
    amount: Money | None = None
