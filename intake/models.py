"""What intake says about a pushed document, and what it tells the lifecycle.

`EInvoiceReceipt` lives here until the lifecycle owner moves it to canonical/ with the
`einvoice_received` signal handler that records it.
"""

from dataclasses import asdict, dataclass
from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from canonical.money import CurrencyCode, Money


@dataclass(frozen=True)
class Finding:
    """One failed rule: the published EN 16931 / Peppol code where there is one
    (`BR-CO-16`), finsync's own (`FS-...`) where the rule is finsync's."""

    code: str
    message: str

    def as_json(self) -> dict:
        return asdict(self)


class NotAnInvoice(Exception):
    """A body that is not a UBL Invoice at all (answered 400, not 422): not XML, a DTD,
    a CII document, another XML document, a credit note."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


class EInvoiceReceipt(BaseModel):
    """One pushed document, as the `einvoice_received` signal carries it to the lifecycle.

    The lifecycle dedupes by `sha256` (the same document pushed twice is one receipt) and
    opens a DuplicateReferenceConflict-style case when a receipt for its key arrives with
    another gross. `payee_iban` is the IBAN the *invoice* asks to be paid to: compare it with
    the ERP's master data, never pay to it. Its field name makes the codec encrypt the
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
