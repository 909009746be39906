"""What intake says about a pushed document, and what it tells the lifecycle.

`EInvoiceReceipt` is canonical (canonical/einvoice.py, next to the lifecycle's
`einvoice_received` signal); it is re-exported here for intake's callers.
"""

from dataclasses import asdict, dataclass

from canonical.einvoice import EInvoiceReceipt

__all__ = ["EInvoiceReceipt", "Finding", "NotAnInvoice"]


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
