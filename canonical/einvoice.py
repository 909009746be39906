"""What intake tells a lifecycle about a pushed e-invoice (the `einvoice_received` signal), and
what the lifecycle keeps of it for people (the status query)."""

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from canonical.money import CurrencyCode, Money


class EInvoiceReceipt(BaseModel):
    """One pushed document, as the `einvoice_received` signal carries it to the lifecycle.

    The lifecycle dedupes by `sha256` (the same document pushed twice is one receipt) and
    opens a DuplicateReferenceConflict case when a receipt for its key arrives with another
    gross or currency. `payee_iban` is the IBAN the *invoice* asks to be paid to: compare it
    with the ERP's master data, never pay to it. Its field name makes the codec encrypt the
    signal payload (codec/bank_details.py), so it never sits in plain history.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    invoice_key: str
    document_id: str = Field(description="the invoice number (BT-1) as the supplier wrote it")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the document's bytes as pushed")
    received_at: AwareDatetime
    issue_date: date
    currency: CurrencyCode
    gross_amount: Money = Field(description="amount due for payment (BT-115)")
    supplier_endpoint: str = Field(description="seller's Peppol endpoint, scheme:id")
    order_reference: str | None = Field(default=None, description="buyer's order number (BT-13)")
    payee_iban: str | None = Field(default=None, description="bank detail: encrypted in history, never logged")


class EInvoiceReceiptRecord(BaseModel):
    """A receipt as the status query shows it: no bank details, and whether it contradicts
    the invoice the lifecycle pays (another gross or currency under the same number)."""

    document_id: str
    sha256: str
    received_at: AwareDatetime
    currency: str
    gross_amount: Money
    conflict: bool = False

    @classmethod
    def of(cls, receipt: EInvoiceReceipt, conflict: bool) -> "EInvoiceReceiptRecord":
        return cls(document_id=receipt.document_id, sha256=receipt.sha256, received_at=receipt.received_at,
                   currency=receipt.currency, gross_amount=receipt.gross_amount, conflict=conflict)


class EInvoiceRefusals(BaseModel):
    """The `einvoice_refused` signal: intake refused further documents for this invoice because
    it already passed `limit` distinct ones (a flood can not grow the lifecycle's history).
    `refused` is intake's running count of distinct refused documents; intake sends it when the
    count reaches 1, 2, 4, 8, ... so the signals stay few however long the flood lasts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    invoice_key: str
    refused: int = Field(ge=1, description="distinct documents refused at intake so far")
    limit: int = Field(ge=1, description="distinct documents intake passes on per invoice")
