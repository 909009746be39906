"""E-invoice intake agrees with mockeinvoice.validate(): the same verdict on the fixtures and on
one-change mutations of a valid invoice, the same published rules failed (finsync adds none),
the same refusal codes, and the deliberate differences named."""

import mockeinvoice
import pytest
from lxml import etree
from mockeinvoice.model import Refused

from intake import mapping, rules, ubl
from intake.models import NotAnInvoice
from intake.suppliers import DEFAULT_REGISTER
from tests.intake_helpers import document


def mutated(path: str, value: str | None) -> bytes:
    """valid.xml with the first element at `path` removed (None) or given a new text."""
    root = etree.fromstring(document("valid.xml"))
    el = root.xpath(path, namespaces=ubl.NS)[0]
    if value is None:
        el.getparent().remove(el)
    else:
        el.text = value
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


MUTATIONS = {  # one change each to a valid invoice, judged by both
    "no issue date": ("cbc:IssueDate", None), "no currency": ("cbc:DocumentCurrencyCode", None),
    "no buyer name": ("cac:AccountingCustomerParty//cbc:RegistrationName", None),
    "no seller address": ("cac:AccountingSupplierParty//cac:PostalAddress", None),
    "no BT-106": ("cac:LegalMonetaryTotal/cbc:LineExtensionAmount", None),
    "no BT-115": ("cac:LegalMonetaryTotal/cbc:PayableAmount", None),
    "BT-109 off by 1": ("cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount", "326.00"),
    "BT-112 off by 0.01": ("cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", "386.76"),
    "BT-106 with 3 decimals": ("cac:LegalMonetaryTotal/cbc:LineExtensionAmount", "325.000"),
    "VAT breakdown tax off by 1": ("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount", "60.75"),
    # within one unit:
    "VAT breakdown taxable off by 0.50": ("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount", "325.50"),
    "VAT rate 20 instead of 19": ("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent", "20"),
    "no VAT total": ("cac:TaxTotal", None), "no line price": ("cac:InvoiceLine/cac:Price", None),
    "line price off by 0.01": ("cac:InvoiceLine/cac:Price/cbc:PriceAmount", "12.51"),
    "buyer country ZZ": ("cac:AccountingCustomerParty//cbc:IdentificationCode", "ZZ"),
    "no due date": ("cbc:DueDate", None), "type code 384": ("cbc:InvoiceTypeCode", "384"),
    "PO number with a quote and a slash": ("cac:OrderReference/cbc:ID", "45'/0102"),
}
# Where finsync decides differently on purpose, and what it says instead:
DELIBERATE = {
    "currency-xxx.xml": ({"FS-CURRENCY"}, "XXX is ISO 4217 ('no currency'): valid EN 16931, nothing finsync can pay"),
    "unknown-supplier.xml": ({"FS-UNKNOWN-SUPPLIER"}, "valid Peppol; the seller is not in finsync's register"),
    "no due date": ({"BR-CO-25"}, ("EN 16931 1.3's BR-CO-25 (due date or terms when an amount is due): "
                                   "not built in mock-einvoice 0.4.0")),
    "type code 384": ({"FS-INVOICE-TYPE"}, ("a corrected invoice needs a person; "
                                            "mock-einvoice says PEPPOL-EN16931-P0112")),
    "PO number with a quote and a slash": ({"FS-PO-NUMBER"}, ("BT-13 is free text to EN 16931; quoted by the "
                                                              "lines it becomes an ERP key, letters and digits")),
}
AGREEMENT = {name: (lambda name=name: document(name)) for name in (
    "valid.xml", "charge.xml", "br-co-16-payable.xml", "br-co-10-line-sum.xml", "br-co-14-vat-total.xml",
    "wrong-currency.xml", "missing-number.xml", "missing-seller-name.xml", "seller-country-xx.xml", "currency-xxx.xml",
    "unknown-supplier.xml")}
AGREEMENT.update({name: (lambda change=change: mutated(*change)) for name, change in MUTATIONS.items()})


def finsync_verdict(data: bytes) -> set[str]:
    doc = ubl.read(ubl.parse(data))
    codes = {f.code for f in rules.check(doc)}
    return codes or {f.code for f in mapping.to_canonical(doc, DEFAULT_REGISTER)[1]}


@pytest.mark.parametrize("name", AGREEMENT)
def test_finsync_and_mockeinvoice_agree(name):
    data = AGREEMENT[name]()
    _, report = mockeinvoice.validate(data)
    fatal = {f.code for f in report.failures if f.level == "fatal"}
    ours = finsync_verdict(data)
    if name in DELIBERATE:
        assert ours == DELIBERATE[name][0], (ours, report.verdict, fatal, DELIBERATE[name][1])
        return
    assert (report.verdict == "valid") == (not ours), (report.verdict, ours)
    # Every published rule finsync implements says what mockeinvoice says of it; finsync adds none.
    assert ours == fatal & rules.IMPLEMENTED, (ours, fatal)


def test_without_a_specification_id_mockeinvoice_refuses_and_finsync_names_br_01():
    data = mutated("cbc:CustomizationID", None)
    with pytest.raises(Refused) as theirs:
        mockeinvoice.validate(data)
    assert (theirs.value.code, finsync_verdict(data)) == ("NO-SPECIFICATION", {"BR-01"})


@pytest.mark.parametrize("name, expected", [("cii.xml", "CII"), ("dtd.xml", "DTD"),
                                            ("not-an-invoice.xml", "NOT-AN-INVOICE")])
def test_both_refuse_what_is_not_an_invoice_with_the_same_code(name, expected):
    with pytest.raises(Refused) as theirs:
        mockeinvoice.validate(document(name))
    with pytest.raises(NotAnInvoice) as ours:
        ubl.parse(document(name))
    assert theirs.value.code == ours.value.code == expected
