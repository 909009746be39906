"""A UBL invoice that passed the rules, as the canonical `Invoice` the lifecycle runs on.

Runs after `rules.check` found nothing, so the amounts it reads are there and add up.
What the canonical model can not carry is refused with a finding rather than dropped.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from canonical.invoice import Invoice
from canonical.money import minor_units
from intake.document import Amount, Line, UblInvoice
from intake.models import EInvoiceReceipt, Finding
from intake.rules import quoted_purchase_order
from intake.suppliers import SupplierRegister

MAX_DESCRIPTION = 200


def to_canonical(doc: UblInvoice, register: SupplierRegister) -> tuple[Invoice | None, list[Finding]]:
    findings = []
    supplier = register.supplier(doc.seller.endpoint)
    if supplier is None:
        findings.append(Finding("FS-UNKNOWN-SUPPLIER", f"seller endpoint {doc.seller.endpoint or '(none)'} "
                                f"({doc.seller.name}) is not in finsync's supplier register"))
    company_code = register.company_code(doc.buyer.endpoint)
    if company_code is None:
        findings.append(Finding("FS-UNKNOWN-BUYER", f"buyer endpoint {doc.buyer.endpoint or '(none)'} "
                                f"({doc.buyer.name}) is not a company code finsync pays for"))
    t = {term: a.value if a is not None else None for term, a in doc.totals.items()}
    if t["BT-113"] or t["BT-114"]:
        # BT-115 then differs from BT-112, and the canonical invoice's gross is both what is
        # paid and net + tax: a prepaid or rounded invoice needs a person.
        findings.append(Finding("FS-PREPAID", f"prepaid {t['BT-113'] or 0} / rounding {t['BT-114'] or 0}: "
                                "intake takes invoices whose amount due is the total with VAT"))
    if findings:
        return None, findings
    assert supplier is not None and doc.issue_date is not None  # a finding above, or rules.check's, said so
    tax = next(a.value for a, _ in doc.tax_totals if a is not None and a.currency == doc.currency)
    lines = [_line(n, ln, doc) for n, ln in enumerate(doc.lines, 1)]
    # Document-level allowances and charges become lines, so the lines add up to the tax
    # base (BT-109) as the canonical invoice's net must.
    for ac in doc.allowances_charges:
        kind = "Charge" if ac.charge else "Allowance"
        lines.append({"line_no": len(lines) + 1,
                      "description": f"{kind}: {ac.reason or 'document level'}"[:MAX_DESCRIPTION],
                      "net_amount": _value(ac.amount) if ac.charge else -_value(ac.amount)})
    body: dict[str, Any] = {
        "company_code": company_code, "supplier_id": supplier.supplier_id, "supplier_invoice_ref": doc.number,
        "invoice_date": doc.issue_date, "due_date": doc.due_date, "currency": doc.currency,
        "net_amount": t["BT-109"], "tax_amount": tax, "gross_amount": t["BT-115"], "lines": lines,
    }
    # Terms as days from the invoice date: the ERP is told the due date, never its own default.
    days = (doc.due_date - doc.issue_date).days if doc.due_date else supplier.net_days
    body["payment_terms"] = {"code": None, "net_days": days}
    try:
        return Invoice.model_validate(body), []
    except ValidationError as e:
        return None, [Finding("FS-CANONICAL", f"{'.'.join(map(str, err['loc'])) or 'invoice'}: {err['msg']}")
                      for err in e.errors(include_url=False)]


def _value(amount: Amount | None) -> Decimal:
    """An amount rules.check has made sure is there and a number (BR-24, BR-31, BR-36, syntax)."""
    assert amount is not None and amount.value is not None
    return amount.value


def _line(n: int, ln: Line, doc: UblInvoice) -> dict:
    line: dict = {"line_no": n, "description": (ln.name or "")[:MAX_DESCRIPTION], "net_amount": _value(ln.net)}
    if ln.quantity is not None and ln.quantity > 0:
        line["quantity"] = ln.quantity
        if ln.unit and len(ln.unit) <= 3:
            line["unit"] = ln.unit
        # Quantity x price is kept only when it is the line amount: with a base quantity or
        # line allowances the canonical check (quantity x price = net) would not hold.
        price = ln.price.value if ln.price is not None else None
        if price is not None and ln.base_quantity in (None, Decimal(1)):
            units = minor_units(doc.currency or "")  # BR-05: it has one
            exact = (ln.quantity * price).quantize(Decimal(1).scaleb(-units))
            if exact == _value(ln.net):
                line["unit_price"] = price
    # A PO reference only with both the order (BT-13) and its line (BT-132): the ERP takes
    # both or neither. Longer than the ERP's fields, it is not an ERP PO. rules.check has
    # refused one with characters a PO can not have (FS-PO-NUMBER).
    if quoted_purchase_order(doc, ln.order_line):
        line["po_number"], line["po_item"] = doc.order_reference, ln.order_line
    return line


def receipt(invoice: Invoice, doc: UblInvoice, sha256: str, received_at: datetime) -> EInvoiceReceipt:
    return EInvoiceReceipt(
        invoice_key=invoice.key, document_id=doc.number, sha256=sha256, received_at=received_at,
        issue_date=invoice.invoice_date, currency=invoice.currency, gross_amount=invoice.gross_amount,
        supplier_endpoint=doc.seller.endpoint, order_reference=doc.order_reference, payee_iban=doc.payee_iban,
    )
