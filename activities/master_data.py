"""Checks of an invoice against supplier bank details and purchase orders."""

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from activities.errors import business_error, transient_error
from adapters.sap import SapClient, SapTransientError
from canonical.invoice import Invoice
from canonical.supplier import Supplier, SupplierBankAccount


def check_bank_account(supplier: Supplier, bank_account_id: str | None) -> SupplierBankAccount:
    account = supplier.bank_account(bank_account_id)
    if account is None:
        named = f"bank account {bank_account_id}" if bank_account_id else "any bank account"
        raise business_error("MissingBankAccount", f"supplier {supplier.supplier_id} has no {named} in the ERP")
    # A credit transfer needs an IBAN; a domestic account number alone can not be paid by pain.001.
    if not account.iban:
        raise business_error(
            "InvalidBankAccount", f"bank account {account.bank_account_id} of supplier {supplier.supplier_id} has no IBAN"
        )
    try:
        iban = IBAN(account.iban)
        if account.bic:
            bic = BIC(account.bic)
            if bic.country_code != iban.country_code:
                raise business_error(
                    "InvalidBankAccount",
                    f"BIC of bank account {account.masked()} is in {bic.country_code}, the IBAN in {iban.country_code}",
                )
    except SchwiftyException as e:
        # Never echo the full IBAN into the case text: it ends up in plain history and search.
        raise business_error("InvalidBankAccount", f"bank account {account.masked()} of supplier {supplier.supplier_id}: {e}") from e
    return account


async def check_purchase_orders(sap: SapClient, invoice: Invoice) -> None:
    """Lines that quote a PO must quote one of this supplier's, in this company code and
    currency. Price and quantity matching comes with AP matching (issue 4)."""
    for po_number in sorted({line.po_number for line in invoice.lines if line.po_number}):
        try:
            po = await sap.get_purchase_order(po_number)
        except SapTransientError as e:
            raise transient_error(f"ERP unavailable while reading PO {po_number}: {e}", e.retry_after) from e
        if po is None:
            raise business_error("UnknownPurchaseOrder", f"purchase order {po_number} does not exist in the ERP")
        if po.supplier_id != invoice.supplier_id or po.company_code != invoice.company_code or po.currency != invoice.currency:
            raise business_error(
                "PurchaseOrderMismatch",
                f"purchase order {po_number} is for supplier {po.supplier_id} in {po.company_code} ({po.currency}), "
                f"the invoice for {invoice.supplier_id} in {invoice.company_code} ({invoice.currency})",
            )
        items = {item.item for item in po.items}
        for line in invoice.lines:
            if line.po_number == po_number and line.po_item and line.po_item not in items:
                raise business_error("PurchaseOrderMismatch", f"purchase order {po_number} has no item {line.po_item}")
