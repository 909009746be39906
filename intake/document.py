"""A pushed UBL invoice as plain values: what the rules judge and the mapping reads.

Every element may be missing (None), so a rule can name what is missing under its EN 16931
code. Amounts are Decimal from the element text, never through a float.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from intake.models import Finding


@dataclass(frozen=True)
class Amount:
    value: Decimal | None  # None: written, but not a decimal (a syntax finding says so)
    currency: str | None   # the currencyID attribute as written
    text: str


@dataclass(frozen=True)
class Party:
    endpoint: str | None  # "scheme:id", e.g. "0088:4012345000009"
    name: str | None      # PartyLegalEntity/RegistrationName (BT-27 / BT-44)
    has_address: bool
    country: str | None


@dataclass(frozen=True)
class TaxSubtotal:
    taxable: Amount | None
    tax: Amount | None
    category: str | None
    percent: Decimal | None


@dataclass(frozen=True)
class AllowanceCharge:
    charge: bool
    amount: Amount | None
    reason: str | None
    category: str | None
    percent: Decimal | None


@dataclass(frozen=True)
class Line:
    line_id: str | None
    quantity: Decimal | None
    unit: str | None
    net: Amount | None
    price: Amount | None
    base_quantity: Decimal | None
    name: str | None
    order_line: str | None
    category: str | None
    percent: Decimal | None
    adjustment: Decimal = Decimal(0)  # line charges less line allowances (BG-28, BG-27)


@dataclass
class UblInvoice:
    customization_id: str | None
    number: str | None
    issue_date: date | None
    due_date: date | None
    type_code: str | None
    currency: str | None
    tax_currency: str | None
    order_reference: str | None
    seller: Party
    buyer: Party
    payee_iban: str | None
    totals: dict[str, Amount | None]  # BT-106..BT-115 by term
    tax_totals: list[tuple[Amount | None, list[TaxSubtotal]]]
    allowances_charges: list[AllowanceCharge]
    lines: list[Line]
    has_payment_terms: bool
    currency_ids: list[str]  # every currencyID in the document
    syntax: list[Finding] = field(default_factory=list)  # values not of their type
