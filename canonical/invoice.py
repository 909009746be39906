"""The supplier invoice as finsync receives it, from the CLI (canonical JSON) or from intake."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from canonical.keys import invoice_key, invoice_workflow_id
from canonical.money import CurrencyCode, Money, Quantity, check_scale, minor_units

SCHEMA_VERSION: Final = 1


class PaymentTerms(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str | None = Field(default=None, max_length=4, description="ERP terms key, e.g. NT30")
    net_days: int = Field(ge=0, le=365, description="days from the baseline date to the net due date")


class InvoiceLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    line_no: int = Field(ge=1)
    description: str = Field(min_length=1, max_length=200)
    net_amount: Money
    quantity: Quantity | None = None
    unit_price: Money | None = None
    unit: str | None = Field(default=None, max_length=3)
    po_number: str | None = Field(default=None, max_length=10)
    po_item: str | None = Field(default=None, max_length=5)


class Invoice(BaseModel):
    """A supplier invoice, approved in the AP platform (`approved_by`) or to be approved in finsync.
    Every amount is a decimal string in `currency`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    company_code: str = Field(pattern=r"^[A-Z0-9]{4}$")
    supplier_id: str = Field(pattern=r"^[0-9A-Z]{1,10}$")
    supplier_invoice_ref: str = Field(min_length=1, max_length=35)
    invoice_date: date
    due_date: date | None = Field(default=None, description="net due date; from payment terms if absent")
    currency: CurrencyCode
    net_amount: Money
    tax_amount: Money
    gross_amount: Money
    payment_terms: PaymentTerms = PaymentTerms(code="0001", net_days=0)
    bank_account_id: str | None = Field(
        default=None, max_length=4,
        description="which of the supplier's bank accounts to pay; default: the only/first one"
    )
    lines: list[InvoiceLine] = Field(min_length=1)
    approved_by: str | None = Field(
        default=None,
        description="approver identity in the AP platform; honoured only with `ap_platform_approval` (signed by "
                    "the AP platform); otherwise the invoice waits for approval in finsync"
    )
    submitted_by: str | None = Field(
        default=None, description="who entered the invoice, as typed: shown, never trusted (see `submission`)")
    ap_platform_approval: str | None = Field(
        default=None, description="the AP platform's signed approval (JWT) of these figures: workflow id, gross, "
                                  "currency, bank account, approver")
    submission: str | None = Field(
        default=None, description="the submitter's decision token (decision `submit`, bound to this workflow id): "
                                  "a verified submitter can not approve or correct the invoice")

    @field_validator("net_amount", "tax_amount", "gross_amount", mode="after")
    @classmethod
    def _currency_scale(cls, amount: Decimal, info: ValidationInfo) -> Decimal:
        # Fix the scale to the currency's minor units: "1190.0" EUR is carried as "1190.00".
        currency = info.data.get("currency")
        what = (info.field_name or "amount").replace("_", " ")  # a field validator always has its field's name
        return check_scale(amount, currency, what) if currency else amount

    @model_validator(mode="after")
    def _totals(self) -> "Invoice":
        cur, net, tax, gross = self.currency, self.net_amount, self.tax_amount, self.gross_amount
        if gross <= 0:
            raise ValueError(f"gross amount must be positive, got {gross} {cur} (credit notes are not invoices)")
        if net <= 0:
            raise ValueError(f"net amount must be positive, got {net} {cur}")
        if tax < 0:
            raise ValueError(f"tax amount must not be negative, got {tax} {cur}")
        if net + tax != gross:
            raise ValueError(f"net {net} + tax {tax} = {net + tax}, but the gross amount is {gross} {cur}")
        line_sum = sum((check_scale(line.net_amount, cur, f"line {line.line_no} amount") for line in self.lines),
                       Decimal(0))
        if line_sum != net:
            raise ValueError(f"the lines add up to {line_sum} {cur}, but the net amount is {net} {cur}")
        numbers = [line.line_no for line in self.lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"line numbers repeat: {numbers}")
        for line in self.lines:
            if line.quantity is not None and line.unit_price is not None:
                expected = (line.quantity * line.unit_price).quantize(Decimal(1).scaleb(-minor_units(cur)))
                if expected != line.net_amount:
                    raise ValueError(
                        f"line {line.line_no}: {line.quantity} x {line.unit_price} = {expected}, "
                        f"not {line.net_amount} {cur}"
                    )
        if self.due_date is not None and self.due_date < self.invoice_date:
            raise ValueError(f"due date {self.due_date} is before the invoice date {self.invoice_date}")
        return self

    @property
    def key(self) -> str:
        return invoice_key(self.company_code, self.supplier_id, self.supplier_invoice_ref)

    @property
    def workflow_id(self) -> str:
        return invoice_workflow_id(self.company_code, self.supplier_id, self.supplier_invoice_ref)

    @property
    def net_due_date(self) -> date:
        return self.due_date or self.invoice_date + timedelta(days=self.payment_terms.net_days)
