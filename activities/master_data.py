"""Checks of an invoice against supplier bank details and purchase orders."""

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from activities.errors import business_error, transient_error
from activities.po_matching import PoTolerances, match_purchase_order
from adapters.erp_errors import ErpBusinessError, ErpTransientError
from adapters.erp_port import ErpPort, GoodsReceipts
from canonical.aba import account_number_problem, routing_problem
from canonical.invoice import Invoice
from canonical.supplier import Supplier, SupplierBankAccount
from canonical.validation import PayeeClaim
from canonical.vendors import normalise_account
from settings import get_settings


def check_bank_account(supplier: Supplier, bank_account_id: str | None,
                       pays_by_ach: bool = False) -> SupplierBankAccount:
    """`pays_by_ach`: the invoice's company pays from a NACHA account, so a US account known by
    its ABA routing number (the ERP's bank number) and account number can be paid."""
    account = supplier.bank_account(bank_account_id)
    if account is None:
        named = f"bank account {bank_account_id}" if bank_account_id else "any bank account"
        raise business_error("MissingBankAccount", f"supplier {supplier.supplier_id} has no {named} in the ERP")
    # A credit transfer needs an IBAN; a domestic account number alone can not be paid by
    # pain.001, only in a NACHA file, and only with a routing number that passes its check digit.
    if not account.iban:
        problem = (ach_account_problem(account) if pays_by_ach
                   else "has no IBAN, and the company pays from no NACHA account")
        if problem:
            raise business_error("InvalidBankAccount",
                                 f"bank account {account.bank_account_id} of supplier {supplier.supplier_id} {problem}")
        return account
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
        # Never echo the account into the case text: schwifty quotes the BBAN it refuses, and
        # the text reaches history, the case, the log and the Web UI (invariant 9).
        raise business_error("InvalidBankAccount",
                             f"bank account {account.masked()} of supplier {supplier.supplier_id}: {e}",
                             known=(account.iban, account.account_number, account.bank_number)) from None
    return account


def ach_account_problem(account: SupplierBankAccount) -> str | None:
    """Why a bank account without IBAN can not be paid by ACH, in words (never the numbers)."""
    if account.country != "US":
        return f"has no IBAN and is in {account.country}; only a US account is paid by ABA routing and account number"
    problem = routing_problem(account.bank_number) or account_number_problem(account.account_number)
    return f"has no IBAN and {problem}" if problem else None


def masked_iban(iban: str) -> str:
    """Country and last four: enough for master data to recognise an account, never the account."""
    plain = normalise_account(iban)
    return f"{plain[:2]}…{plain[-4:]}"


def payee_mismatch(supplier: Supplier, account: SupplierBankAccount, claims: list[PayeeClaim]) -> str | None:
    """The e-invoices asking payment to an account the ERP does not hold for the supplier,
    compared in their normal form (both are in hand here, so no fingerprint is needed), in words
    with masked accounts only; None
    when each is one of the supplier's accounts in the ERP (the invoice still pays `account`)."""
    if account.iban is None:  # paid by ABA routing and account number: e-invoices name IBANs
        return None
    ours = {normalise_account(a.iban) for a in supplier.bank_accounts if a.iban}
    others = sorted({(c.document_id, masked_iban(c.payee_iban)) for c in claims
                     if normalise_account(c.payee_iban) not in ours})
    if not others:
        return None
    named = ", ".join(f"e-invoice {doc} asks payment to {masked}" for doc, masked in others)
    return (f"{named}, an account the ERP does not hold for supplier {supplier.supplier_id} (it pays bank account "
            f"{account.bank_account_id}, {masked_iban(account.iban)}): master data checks with the supplier, on a "
            "number already on file, before anything is paid")


async def check_purchase_orders(erp: ErpPort, invoice: Invoice, tolerances: PoTolerances | None = None) -> None:
    """Lines that quote a PO must quote one of this supplier's, in this company code and
    currency, and match its items within the tolerances: two-way (price, ordered quantity)
    and, where goods were received, three-way (activities/po_matching.py). Every mismatch
    becomes one PurchaseOrderMismatch case for the buyer; nothing is posted around it.
    Tolerances default to the settings (FINSYNC_PO_*): ErpActivities is built with the
    ERP directory only, and the check reads them when it runs, not at import. An ERP without
    goods receipts (ErpPort's optional GoodsReceipts) is matched two-way."""
    if tolerances is None:
        tolerances = PoTolerances.from_settings(get_settings())
    problems: list[str] = []
    for po_number in sorted({line.po_number for line in invoice.lines if line.po_number}):
        try:
            po = await erp.get_purchase_order(po_number)
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable while reading PO {po_number}: {e}", e.retry_after) from e
        except ErpBusinessError as e:  # e.g. a key SAP can not read: asking again gets the same answer
            raise business_error("UnknownPurchaseOrder", f"the ERP refused purchase order {po_number!r}: "
                                                         f"{e.message}") from e
        if po is None:
            raise business_error("UnknownPurchaseOrder", f"purchase order {po_number} does not exist in the ERP")
        if (po.supplier_id != invoice.supplier_id or po.company_code != invoice.company_code
                or po.currency != invoice.currency):
            raise business_error(
                "PurchaseOrderMismatch",
                f"purchase order {po_number} is for supplier {po.supplier_id} in {po.company_code} ({po.currency}), "
                f"the invoice for {invoice.supplier_id} in {invoice.company_code} ({invoice.currency})",
            )
        # A line with a PO but no item is refused as not postable later (postability_problems).
        lines = [line for line in invoice.lines if line.po_number == po_number and line.po_item]
        if not lines:
            continue
        try:
            received = await erp.received_quantities(po_number) if isinstance(erp, GoodsReceipts) else {}
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable while reading goods receipts of PO {po_number}: {e}",
                                  e.retry_after) from e
        problems += match_purchase_order(po, lines, received, tolerances, invoice.currency)
    if problems:
        raise business_error("PurchaseOrderMismatch", "; ".join(problems))
