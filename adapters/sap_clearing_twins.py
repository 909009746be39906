"""Invoices a bank-statement line could not tell apart in SAP, and the claim rule that keeps them
from clearing each other (issue 12 item 5).

SAP clears a payable from a FINSTA01 debit line by the invoice's reference (XBLNR,
SupplierInvoiceIDByInvcgParty) plus the exact amount and currency: nothing on the line names the
supplier or our document (guides/mock-sap.md §7.1; real SAP's "reference number search" reads
the same field). That reference is the *supplier's* own number, so two suppliers billing `INV-1`
for 500.00 EUR are twins: a line paying one fits both. SAP then decides by the payment run's
claim (PaymentRunID): the one claimed twin is the one paid; with none or several claimed it
clears neither.

finsync attributes each statement line to OUR document through the EndToEndId it sent (the
payment register), never through that reference; what remains is to make SAP's choice the same
one. So a run does not claim an invoice while a twin of another supplier is claimed (by any run,
this one included): SAP then always finds exactly one claimed twin, the one the money paid, and
the other is paid by a later run once the first is cleared (the claim goes when SAP clears it).
Twins of ONE supplier are a duplicate posting, which SAP settles once either way: not refused.
The supplier's reference itself stays what SAP holds (AP searches by it, the near-duplicate
check compares it, SAP's own duplicate control reads it)."""

from decimal import Decimal

from adapters.sap import SapClient
from adapters.sap_errors import SapBusinessError
from adapters.sap_odata import SUPPLIER_INVOICE_SRV, literal
from canonical.status import ErpDocument

# What a twin is made of, read with the claim fields of every invoice a run claims.
TWIN_FIELDS = "InvoicingParty,SupplierInvoiceIDByInvcgParty,InvoiceGrossAmount,DocumentCurrency,AccountingDocument"
_REFERENCES_PER_REQUEST = 40  # the filter stays well under URL limits of SAP gateways
TWIN_CLAIMED = "FINSYNC/TWIN_CLAIMED"

Twin = tuple[str, Decimal, str]  # reference, amount, currency: what a statement line carries


def twin_key(invoice: dict) -> Twin | None:
    """The (reference, amount, currency) a statement line paying this invoice would carry."""
    reference = invoice.get("SupplierInvoiceIDByInvcgParty") or ""
    amount, currency = invoice.get("InvoiceGrossAmount"), invoice.get("DocumentCurrency") or ""
    if not reference or amount in (None, ""):
        return None
    return reference, abs(Decimal(str(amount))), currency.strip().upper()


class ClaimedTwins:
    """The claimed invoices sharing a reference with those a run is about to claim, kept up to
    date as the run claims, so two twins in one chunk are not both claimed."""

    def __init__(self, rows: list[dict]):
        self._claimed: dict[Twin, dict[str, dict]] = {}  # twin -> accounting document -> invoice
        for row in rows:
            self.claimed(row, row.get("PaymentRunID") or "")

    def claimed(self, invoice: dict, run_id: str) -> None:
        """`invoice` now carries `run_id`'s claim (or, with "", none)."""
        twin, document = twin_key(invoice), invoice.get("AccountingDocument") or ""
        if twin is None or not document:
            return
        holders = self._claimed.setdefault(twin, {})
        if run_id:
            holders[document] = {**invoice, "PaymentRunID": run_id}
        else:
            holders.pop(document, None)

    def refusal(self, doc: ErpDocument, invoice: dict) -> SapBusinessError | None:
        """Why claiming this invoice would leave SAP unable to tell which twin a payment paid."""
        twin = twin_key(invoice)
        if twin is None:
            return None
        supplier = invoice.get("InvoicingParty") or ""
        others = [row for document, row in sorted(self._claimed.get(twin, {}).items())
                  if document != doc.accounting_document and (row.get("InvoicingParty") or "") != supplier]
        if not others:
            return None
        other = others[0]
        reference, amount, currency = twin
        return SapBusinessError(409, TWIN_CLAIMED, (
            f"invoice {doc.invoice_document}/{doc.fiscal_year} of supplier {supplier} quotes {reference} for "
            f"{amount} {currency}, like invoice document {other.get('AccountingDocument')} of supplier "
            f"{other.get('InvoicingParty')} already in payment run {other.get('PaymentRunID')}: SAP clears a "
            "statement line by reference and amount, so it could not tell the two payments apart; "
            "paid by a later run once that one is cleared"))


async def claimed_twins(sap: SapClient, invoices: list[dict]) -> ClaimedTwins:
    """Every invoice SAP shows claimed by some run (any company code: SAP's statement matching
    does not look at it) that quotes one of these invoices' references."""
    references = sorted({twin[0] for invoice in invoices if (twin := twin_key(invoice))})
    rows: list[dict] = []
    for start in range(0, len(references), _REFERENCES_PER_REQUEST):
        chunk = references[start:start + _REFERENCES_PER_REQUEST]
        quoted = " or ".join(f"SupplierInvoiceIDByInvcgParty eq {literal(r)}" for r in chunk)
        found, _ = await sap.read_all(f"{SUPPLIER_INVOICE_SRV}/A_SupplierInvoice", {
            "$filter": f"({quoted}) and PaymentRunID ne ''", "$select": f"{TWIN_FIELDS},PaymentRunID"})
        rows += found
    return ClaimedTwins(rows)
