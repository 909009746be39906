"""The ERP's side of the reconciliation on SAP (ErpPort.supplier_items): the open-item cube's
supplier items of a company code, joined to their invoices' references. Read through
SapClient's own request hook (as adapters/sap_payments.py does: one CSRF cache, one error
mapping)."""

from datetime import date
from decimal import Decimal

from adapters.sap import SapClient
from adapters.sap_odata import literal, parse_date
from adapters.sap_payments import OPEN_ITEM_SRV, SUPPLIER_INVOICE_SRV
from canonical.money import MINOR_UNITS
from canonical.reconciliation import ErpItem

_JOIN_CHUNK = 40  # documents per A_SupplierInvoice filter: keeps the URL well under gateway limits


def _exact(text: str, currency: str) -> Decimal:
    """SAP writes open items with 3 decimals ("1190.000"); bring them to the currency's
    minor units when that loses nothing, so they print like the invoice."""
    value = Decimal(text)
    units = MINOR_UNITS.get(currency)
    if units is None:
        return value
    scaled = value.quantize(Decimal(1).scaleb(-units))
    return scaled if scaled == value else value


async def erp_supplier_items(sap: SapClient, company_code: str, cleared_since: date) -> list[ErpItem]:
    """Open supplier items plus those cleared since `cleared_since`; payment documents' own
    self-cleared K lines are left out (AccountingDocument ne ClearingAccountingDocument)."""
    flt = (f"AccountingDocumentItemType eq 'K' and CompanyCode eq {literal(company_code)} "
           "and AccountingDocument ne ClearingAccountingDocument "
           f"and (ClearingAccountingDocument eq '' or ClearingDate ge datetime'{cleared_since.isoformat()}T00:00:00')")
    select_ = ("AccountingDocument,FiscalYear,CompanyCode,Supplier,AmountInTransactionCurrency,TransactionCurrency,"
               "PaymentBlockingReason,ClearingAccountingDocument,ClearingDate")
    # Every item, across the gateway's own pages: an item past the first page left out would be
    # a difference the reconciliation never saw.
    rows, _ = await sap.read_all(f"{OPEN_ITEM_SRV}/A_OperationalAcctgDocItemCube",
                                 {"$filter": flt, "$select": select_})
    references = await _references(sap, company_code, sorted({r["AccountingDocument"] for r in rows}))
    return [ErpItem(
        accounting_document=r["AccountingDocument"], fiscal_year=r["FiscalYear"], company_code=r["CompanyCode"],
        supplier_id=r.get("Supplier", ""), reference=references.get((r["AccountingDocument"], r["FiscalYear"])),
        amount=_exact(r["AmountInTransactionCurrency"], r["TransactionCurrency"]), currency=r["TransactionCurrency"],
        payment_block=r.get("PaymentBlockingReason", ""), clearing_document=r.get("ClearingAccountingDocument", ""),
        clearing_date=parse_date(r.get("ClearingDate")),
    ) for r in rows]


async def _references(sap: SapClient, company_code: str, documents: list[str]) -> dict[tuple[str, str], str]:
    """(accounting document, fiscal year) -> the supplier's invoice reference: the open item
    does not carry it (guide §6)."""
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(documents), _JOIN_CHUNK):
        docs = " or ".join(f"AccountingDocument eq {literal(d)}" for d in documents[start:start + _JOIN_CHUNK])
        rows, _ = await sap.read_all(f"{SUPPLIER_INVOICE_SRV}/A_SupplierInvoice", {
            "$filter": f"CompanyCode eq {literal(company_code)} and ({docs})",
            "$select": "AccountingDocument,FiscalYear,SupplierInvoiceIDByInvcgParty"})
        for row in rows:
            found[(row["AccountingDocument"], row["FiscalYear"])] = row["SupplierInvoiceIDByInvcgParty"]
    return found
