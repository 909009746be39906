"""OData V2 wire format of SAP's APIs and its translation into finsync's canonical models."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import quote

from canonical.duplicates import OtherInvoice
from canonical.erp import PostedInvoice, PurchaseOrder, PurchaseOrderItem
from canonical.status import ErpDocument
from canonical.supplier import Supplier, SupplierBankAccount

ODATA = "/sap/opu/odata/sap"
BUSINESS_PARTNER_SRV = f"{ODATA}/API_BUSINESS_PARTNER_SRV"
PURCHASE_ORDER_SRV = f"{ODATA}/API_PURCHASEORDER_PROCESS_SRV"
SUPPLIER_INVOICE_SRV = f"{ODATA}/API_SUPPLIERINVOICE_PROCESS_SRV"

_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def literal(value: str) -> str:
    """An OData V2 string literal: single quotes doubled, so a reference like O'NEIL-1 cannot
    end the literal early and change the filter."""
    return "'" + value.replace("'", "''") + "'"


def key(value: str) -> str:
    """A key literal in a resource path, e.g. A_PurchaseOrder(<key>): the OData literal,
    percent-encoded, so a slash, question mark, hash or quote in a value that came from outside
    (a PO number on an e-invoice) stays inside the key and can not change which resource the
    URL names. The gateway decodes the path before it reads the literal."""
    return "'" + quote(value.replace("'", "''"), safe="") + "'"


def invoice_path(doc: ErpDocument) -> str:
    return (
        f"{SUPPLIER_INVOICE_SRV}/A_SupplierInvoice("
        f"SupplierInvoice={key(doc.invoice_document)},FiscalYear={key(doc.fiscal_year)})"
    )


def parse_date(value: str | None) -> date | None:
    """`/Date(ms)/` is UTC midnight for date fields; ABAP's unset date comes as null."""
    if not value:
        return None
    match = _DATE.match(value)
    if not match:
        return date.fromisoformat(value[:10])
    return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC).date()


def format_date(value: date) -> str:
    return f"{value.isoformat()}T00:00:00"


def _blank_to_none(value: str | None) -> str | None:
    # ABAP has no null: an unset field is "" and means "none" in our model.
    return value or None


def to_supplier(bp: dict) -> Supplier | None:
    if not bp.get("Supplier"):
        return None  # a customer or a person, not someone we pay
    banks = bp.get("to_BusinessPartnerBank", {}).get("results", [])
    accounts = sorted(
        (
            SupplierBankAccount(
                bank_account_id=row["BankIdentification"],
                country=row["BankCountryKey"],
                holder_name=_blank_to_none(row.get("BankAccountHolderName")),
                iban=_blank_to_none(row.get("IBAN")),
                bic=_blank_to_none(row.get("SWIFTCode")),
                account_number=_blank_to_none(row.get("BankAccount")),
                bank_number=_blank_to_none(row.get("BankNumber")),
            )
            for row in banks
        ),
        key=lambda account: account.bank_account_id,
    )
    return Supplier(
        supplier_id=bp["Supplier"],
        name=bp.get("BusinessPartnerFullName") or bp.get("BusinessPartnerName") or bp["Supplier"],
        is_blocked=bool(bp.get("BusinessPartnerIsBlocked")),
        bank_accounts=accounts,
    )


def to_purchase_order(po: dict) -> PurchaseOrder:
    items = [
        PurchaseOrderItem(
            item=row["PurchaseOrderItem"],
            description=row.get("PurchaseOrderItemText", ""),
            quantity=Decimal(row["OrderQuantity"]),
            unit=row.get("PurchaseOrderQuantityUnit", ""),
            net_price=Decimal(row["NetPriceAmount"]),
            price_unit_quantity=Decimal(row.get("NetPriceQuantity") or "1"),
        )
        for row in po.get("to_PurchaseOrderItem", {}).get("results", [])
    ]
    return PurchaseOrder(
        po_number=po["PurchaseOrder"],
        company_code=po["CompanyCode"],
        supplier_id=po["Supplier"],
        currency=po["DocumentCurrency"],
        items=sorted(items, key=lambda item: item.item),
    )


def to_posted_invoice(row: dict) -> PostedInvoice:
    baseline = parse_date(row.get("DueCalculationBaseDate"))
    days = int(row.get("NetPaymentDays") or 0)
    return PostedInvoice(
        erp_document=ErpDocument(
            invoice_document=row["SupplierInvoice"],
            fiscal_year=row["FiscalYear"],
            accounting_document=row["AccountingDocument"],
        ),
        company_code=row["CompanyCode"],
        supplier_id=row["InvoicingParty"],
        reference=row["SupplierInvoiceIDByInvcgParty"],
        gross_amount=Decimal(row["InvoiceGrossAmount"]),
        currency=row["DocumentCurrency"],
        net_due_date=baseline + timedelta(days=days) if baseline else None,
        payment_block=row.get("PaymentBlockingReason", ""),
        payment_run_id=row.get("PaymentRunID", ""),
    )


# What a near-duplicate check reads of the supplier's other invoices (canonical/duplicates.py).
OTHER_INVOICE_FIELDS = ("SupplierInvoice,FiscalYear,AccountingDocument,SupplierInvoiceIDByInvcgParty,DocumentDate,"
                        "InvoiceGrossAmount,DocumentCurrency")


def to_other_invoice(row: dict) -> OtherInvoice:
    return OtherInvoice(
        source="erp", document=f"{row['SupplierInvoice']}/{row['FiscalYear']}",
        reference=row["SupplierInvoiceIDByInvcgParty"], invoice_date=parse_date(row.get("DocumentDate")),
        gross_amount=Decimal(row["InvoiceGrossAmount"]), currency=row["DocumentCurrency"],
        status=f"accounting document {row['AccountingDocument']}" if row.get("AccountingDocument") else None,
    )
