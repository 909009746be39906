"""Near-duplicate invoices: the same supplier's invoice entered twice under references that
differ only in how they were typed (`DUP-9001` and `dup 9001`), which the business key
(canonical/keys.py: spaces and case only) keeps apart. Caught before posting, as a case for AP
that names the other document; exact-key duplicates never get this far (architecture invariant 1).

Pure functions and models: the lifecycle's activities (activities/duplicate_search.py) use
them on what the ERP and the other running lifecycles hold."""

import re
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from canonical.invoice import Invoice
from canonical.keys import normalise_reference
from canonical.money import Money

# What FINSYNC_NEAR_DUPLICATE_CHECK may say: both rules, the reference rule only, or none.
DuplicateRules = Literal["reference-or-date", "reference", "off"]

_DIGITS = re.compile(r"\d+")
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
MATCH_REFERENCE = "reference"
MATCH_DATE = "amount and invoice date"


def loose_reference(reference: str) -> str:
    """A reference as a person reads it: punctuation, spaces, leading zeros and case do not
    count. `INV-0042/7`, `inv 42 7` and `INV42.07` are all `INV427`. Leading zeros go per
    group of digits before the separators do, so `A10-01` and `A10-1` stay one and the same,
    and neither becomes `A1001`."""
    unpadded = _DIGITS.sub(lambda digits: digits.group().lstrip("0") or "0", reference)
    return _NOT_ALPHANUMERIC.sub("", unpadded).casefold()


class InvoiceFacts(BaseModel):
    """What a lifecycle shows the others (its memo, `FACTS_MEMO`): enough to be judged as a
    near duplicate without querying it. No bank details."""

    schema_version: Literal[1] = 1
    reference: str
    invoice_date: date
    gross_amount: Money
    currency: str

    @classmethod
    def of(cls, invoice: Invoice) -> "InvoiceFacts":
        return cls(reference=invoice.supplier_invoice_ref, invoice_date=invoice.invoice_date,
                   gross_amount=invoice.gross_amount, currency=invoice.currency)


class OtherInvoice(BaseModel):
    """Another invoice of the same supplier and company code, as the ERP or a running
    lifecycle holds it; `matched_on` says why it may be the same invoice."""

    schema_version: Literal[1] = 1
    source: Literal["erp", "lifecycle"]
    document: str = Field(description="the ERP's document (number/fiscal year) or the lifecycle's workflow id")
    reference: str
    invoice_date: date | None = None
    gross_amount: Money
    currency: str
    status: str | None = Field(default=None, description="the lifecycle's status, or the ERP's accounting document")
    matched_on: str = ""

    def described(self) -> str:
        where = "ERP document" if self.source == "erp" else "lifecycle"
        dated = f", dated {self.invoice_date}" if self.invoice_date else ""
        state = f", {self.status}" if self.status else ""
        return (f"{where} {self.document} (reference {self.reference}, {self.gross_amount} {self.currency}{dated}"
                f"{state}; same {self.matched_on})")


class DuplicateFindings(BaseModel):
    """Both reads of the near-duplicate check, from one activity (activities/duplicate_search.py)."""

    in_erp: list[OtherInvoice]
    in_lifecycles: list[OtherInvoice]


def near_duplicates(invoice: Invoice, others: list[OtherInvoice], rules: DuplicateRules) -> list[OtherInvoice]:
    """The others that may be `invoice` again: the same amount and currency, and a reference
    equal once loosened, or (rules "reference-or-date") the same invoice date. One under the
    same business key is this invoice itself (or its exact-key duplicate, which the ERP lookup
    before posting handles), never a near duplicate."""
    if rules == "off":
        return []
    own, loose = normalise_reference(invoice.supplier_invoice_ref), loose_reference(invoice.supplier_invoice_ref)
    found = []
    for other in others:
        if normalise_reference(other.reference) == own:
            continue
        if (other.gross_amount, other.currency) != (invoice.gross_amount, invoice.currency):
            continue
        if loose_reference(other.reference) == loose:
            found.append(other.model_copy(update={"matched_on": MATCH_REFERENCE}))
        elif rules == "reference-or-date" and other.invoice_date == invoice.invoice_date:
            found.append(other.model_copy(update={"matched_on": MATCH_DATE}))
    return found
