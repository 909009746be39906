"""Treasury's view: expected outflows per invoice and the cash position they add up to."""

from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from canonical.money import CurrencyCode, Money


class OutflowState(StrEnum):
    EXPECTED = "expected"
    ACTUAL = "actual"
    WITHDRAWN = "withdrawn"


class ExpectedOutflow(BaseModel):
    schema_version: Literal[1] = 1
    invoice_key: str
    company_code: str
    supplier_id: str
    currency: CurrencyCode
    amount: Money
    value_date: date
    state: OutflowState = OutflowState.EXPECTED
    # Who approved the invoice, so a payment run knows before it reserves anything who may not
    # release it (segregation of duties). Empty: not stated; the store keeps what it had.
    approvers: list[str] = Field(default_factory=list)


class CashPosition(BaseModel):
    schema_version: Literal[1] = 1
    company_code: str
    currency: CurrencyCode
    value_date: date
    expected_outflow: Money
    actual_outflow: Money
    invoices: int
