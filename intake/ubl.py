"""Read a pushed UBL 2.1 Invoice into plain values the rules can judge.

Reading never decides: an element that is missing is None, so the rules can name the
EN 16931 rule it breaks (BR-02 for no number) instead of the reader failing on it. Only a
body that is not a UBL Invoice at all raises `NotAnInvoice` (the endpoint's 400).

Amounts are Decimal from the element text, never through a float.
"""

import re
from datetime import date
from decimal import Decimal

from lxml import etree

from intake.document import AllowanceCharge, Amount, Line, Party, TaxSubtotal, UblInvoice
from intake.models import Finding, NotAnInvoice

UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CII = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
NS = {
    "inv": UBL_INVOICE,
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


_TOTALS = {"BT-106": "LineExtensionAmount", "BT-107": "AllowanceTotalAmount", "BT-108": "ChargeTotalAmount",
           "BT-109": "TaxExclusiveAmount", "BT-112": "TaxInclusiveAmount", "BT-113": "PrepaidAmount",
           "BT-114": "PayableRoundingAmount", "BT-115": "PayableAmount"}


def parse(data: bytes) -> etree._Element:
    """The root of a UBL Invoice 2.1, or `NotAnInvoice`. No DTD, no entities, no network:
    an invoice needs none, and each is a way to make the parser read or expand something."""
    if b"<!DOCTYPE" in data[:4096]:
        raise NotAnInvoice("DTD", "the document has a DOCTYPE declaration; an invoice needs no DTD and no entities")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise NotAnInvoice("NOT-AN-INVOICE", f"the body is not well-formed XML: {e}") from None
    if root.getroottree().docinfo.doctype:
        raise NotAnInvoice("DTD", "the document has a DOCTYPE declaration; an invoice needs no DTD and no entities")
    name = etree.QName(root)
    if name.namespace == CII:
        raise NotAnInvoice("CII", "a UN/CEFACT Cross Industry Invoice; this endpoint takes Peppol BIS Billing 3 UBL")
    if name.namespace == UBL_CREDIT_NOTE:
        raise NotAnInvoice("CREDIT-NOTE", "a UBL CreditNote; intake takes invoices to pay, credit notes go to AP")
    if (name.namespace, name.localname) != (UBL_INVOICE, "Invoice"):
        raise NotAnInvoice("NOT-AN-INVOICE", f"the root is {name.localname} in namespace "
                                             f"{name.namespace or 'none'!r}, not a UBL 2.1 Invoice")
    return root


class _Reader:
    """Element access that records values of the wrong type as syntax findings."""

    def __init__(self) -> None:
        self.syntax: list[Finding] = []

    def text(self, el, path: str) -> str | None:
        found = el.xpath(path, namespaces=NS) if el is not None else []
        if len(found) > 1:
            self.syntax.append(Finding("FS-UBL-SYNTAX", f"{path} occurs {len(found)} times where UBL allows one"))
        value = (found[0].text or "").strip() if found else ""
        return value or None

    def number(self, el, path: str) -> Decimal | None:
        text = self.text(el, path)
        if text is None:
            return None
        if not _DECIMAL.fullmatch(text):
            self.syntax.append(Finding("FS-UBL-SYNTAX", f"{path} is {text!r}, not a decimal number"))
            return None
        return Decimal(text)

    def amount(self, el, path: str) -> Amount | None:
        found = el.xpath(path, namespaces=NS) if el is not None else []
        if not found:
            return None
        if len(found) > 1:
            self.syntax.append(Finding("FS-UBL-SYNTAX", f"{path} occurs {len(found)} times where UBL allows one"))
        text = (found[0].text or "").strip()
        if not _DECIMAL.fullmatch(text):
            self.syntax.append(Finding("FS-UBL-SYNTAX", f"{path} is {text!r}, not a decimal amount"))
        return Amount(Decimal(text) if _DECIMAL.fullmatch(text) else None, found[0].get("currencyID"), text)

    def day(self, el, path: str) -> date | None:
        text = self.text(el, path)
        if text is None:
            return None
        try:
            if not _DATE.fullmatch(text):
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            self.syntax.append(Finding("FS-UBL-SYNTAX", f"{path} is {text!r}, not a date YYYY-MM-DD"))
            return None

    def party(self, root, role: str) -> Party:
        party = _first(root, f"cac:{role}/cac:Party")
        endpoint = _first(party, "cbc:EndpointID")
        ident = (endpoint.text or "").strip() if endpoint is not None else ""
        return Party(
            endpoint=f"{(endpoint.get('schemeID') or '').strip()}:{ident}" if ident else None,
            name=self.text(party, "cac:PartyLegalEntity/cbc:RegistrationName"),
            has_address=_first(party, "cac:PostalAddress") is not None,
            country=self.text(party, "cac:PostalAddress/cac:Country/cbc:IdentificationCode"),
        )

    def category(self, el, path: str) -> tuple[str | None, Decimal | None]:
        cat = _first(el, path)
        return self.text(cat, "cbc:ID"), self.number(cat, "cbc:Percent")


def _first(el, path: str):
    found = el.xpath(path, namespaces=NS) if el is not None else []
    return found[0] if found else None


def _line(r: _Reader, ln) -> Line:
    quantity = _first(ln, "cbc:InvoicedQuantity")
    unit = (quantity.get("unitCode") or "").strip() or None if quantity is not None else None
    adjustment = Decimal(0)
    for ac in ln.xpath("cac:AllowanceCharge", namespaces=NS):
        amount = r.amount(ac, "cbc:Amount")
        if amount is not None and amount.value is not None:
            adjustment += amount.value if (r.text(ac, "cbc:ChargeIndicator") or "").lower() == "true" else -amount.value
    return Line(r.text(ln, "cbc:ID"), r.number(ln, "cbc:InvoicedQuantity"), unit,
                r.amount(ln, "cbc:LineExtensionAmount"), r.amount(ln, "cac:Price/cbc:PriceAmount"),
                r.number(ln, "cac:Price/cbc:BaseQuantity"), r.text(ln, "cac:Item/cbc:Name"),
                r.text(ln, "cac:OrderLineReference/cbc:LineID"), *r.category(ln, "cac:Item/cac:ClassifiedTaxCategory"),
                adjustment)


def read(root: etree._Element) -> UblInvoice:
    r = _Reader()
    tax_totals = [
        (r.amount(tt, "cbc:TaxAmount"),
         [TaxSubtotal(r.amount(st, "cbc:TaxableAmount"), r.amount(st, "cbc:TaxAmount"),
                      *r.category(st, "cac:TaxCategory"))
          for st in tt.xpath("cac:TaxSubtotal", namespaces=NS)])
        for tt in root.xpath("cac:TaxTotal", namespaces=NS)
    ]
    totals = _first(root, "cac:LegalMonetaryTotal")
    ibans = [t for t in root.xpath("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID/text()", namespaces=NS)
             if t.strip()]
    return UblInvoice(
        customization_id=r.text(root, "cbc:CustomizationID"),
        number=r.text(root, "cbc:ID"),
        issue_date=r.day(root, "cbc:IssueDate"),
        due_date=r.day(root, "cbc:DueDate"),
        type_code=r.text(root, "cbc:InvoiceTypeCode"),
        currency=r.text(root, "cbc:DocumentCurrencyCode"),
        tax_currency=r.text(root, "cbc:TaxCurrencyCode"),
        order_reference=r.text(root, "cac:OrderReference/cbc:ID"),
        seller=r.party(root, "AccountingSupplierParty"),
        buyer=r.party(root, "AccountingCustomerParty"),
        payee_iban=ibans[0].strip() if ibans else None,
        totals={term: r.amount(totals, f"cbc:{name}") for term, name in _TOTALS.items()},
        tax_totals=tax_totals,
        allowances_charges=[
            AllowanceCharge((r.text(ac, "cbc:ChargeIndicator") or "").lower() == "true", r.amount(ac, "cbc:Amount"),
                            r.text(ac, "cbc:AllowanceChargeReason"), *r.category(ac, "cac:TaxCategory"))
            for ac in root.xpath("cac:AllowanceCharge", namespaces=NS)
        ],
        lines=[_line(r, ln) for ln in root.xpath("cac:InvoiceLine", namespaces=NS)],
        has_payment_terms=_first(root, "cac:PaymentTerms/cbc:Note") is not None,
        currency_ids=[v.strip() for v in root.xpath("//@currencyID")],
        syntax=r.syntax,
    )
