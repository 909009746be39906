"""What the ERP knows about a posted invoice and a purchase order, in finsync's words."""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from canonical.money import Money
from canonical.status import ErpDocument


class PostedInvoice(BaseModel):
    schema_version: Literal[1] = 1
    erp_document: ErpDocument
    company_code: str
    supplier_id: str
    reference: str
    gross_amount: Money
    currency: str
    net_due_date: date | None = None
    payment_block: str = ""
    payment_run_id: str = ""


class PurchaseOrderItem(BaseModel):
    item: str
    description: str = ""
    quantity: Decimal
    unit: str = ""
    net_price: Money
    price_unit_quantity: Decimal = Decimal(1)


class PurchaseOrder(BaseModel):
    schema_version: Literal[1] = 1
    po_number: str
    company_code: str
    supplier_id: str
    currency: str
    items: list[PurchaseOrderItem] = []


class PaymentBlockReason(StrEnum):
    """Why finsync blocks a posted invoice for payment, in finance terms: each ERP adapter maps
    it to its own key (SAP: payment block "R" or "B"). The ERP's own key read back from it is
    shown as the ERP holds it (PostedInvoice.payment_block, OpenItem.payment_block)."""

    CANCELLED = "cancelled"  # the invoice was cancelled: the ERP has no reversal API, so it is blocked for good
    BANK_DETAILS = "bank-details"  # the supplier's bank details changed: blocked until a person confirms them


class PaymentBlock(BaseModel):
    """Set (`reason` non-empty) or clear (`""`) the ERP's payment block on a posted invoice.
    `reason` is a PaymentBlockReason; an ERP key sent before there were reasons ("R", "B") is
    passed to the ERP as it is."""

    erp_document: ErpDocument
    reason: str = ""


class OpenItemQuery(BaseModel):
    erp_document: ErpDocument
    company_code: str


class OpenItem(BaseModel):
    """The supplier line of a posted invoice in the ERP's open-item view: "paid" means it has
    a clearing document, not that the bank accepted a file."""

    schema_version: Literal[1] = 1
    accounting_document: str
    company_code: str
    fiscal_year: str = ""  # SAP's; an ERP without fiscal-year keys leaves it empty
    supplier_id: str = ""
    amount: Money
    currency: str
    net_due_date: date | None = None
    payment_block: str = ""
    payment_run_id: str = ""
    payment_run_date: date | None = None
    clearing_document: str = ""  # "" while open, and again after a return reopened it
    clearing_date: date | None = None
    clearing_is_reversed: bool = False  # paid and returned: tells a reopened item from a never-paid one

    @property
    def is_cleared(self) -> bool:
        return bool(self.clearing_document)


class ItemClearing(BaseModel):
    """The clearing state of one supplier item, as the ERP port reads it in bulk
    (ErpPort.clearing_states): after a statement post, which payments it cleared or reopened."""

    accounting_document: str
    company_code: str
    fiscal_year: str = ""
    amount: Decimal
    currency: str
    clearing_document: str = ""
    clearing_fiscal_year: str = ""
    clearing_date: date | None = None
    clearing_is_reversed: bool = False

    @property
    def cleared(self) -> bool:
        return bool(self.clearing_document)

    @property
    def reopened(self) -> bool:
        """Paid, then returned: the ERP took the clearing back (a statement's return line)."""
        return not self.cleared and self.clearing_is_reversed


class StatementClearing(BaseModel):
    """What the ERP answered about one lifecycle's payment right after it took a bank statement
    (ErpPort.clearing_states, read by the statement post): the `statement_posted` signal's
    optional payload. Only the ERP's own clearing document makes `cleared` true; a lifecycle
    without one (no payload, `cleared` false) reads its open item as before."""

    accounting_document: str
    end_to_end_id: str = Field(default="", description="the payment the statement booked: which attempt it clears")
    cleared: bool = False
    clearing_document: str = ""
    clearing_date: date | None = None
