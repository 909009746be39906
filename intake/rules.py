"""The EN 16931 rules that decide whether an invoice can be paid, under their published codes.

Not all 1,100+ Peppol rules: the ones about what is paid, to whom and in what currency —
mandatory elements, totals and VAT breakdown arithmetic, amount decimals, code lists
(ISO 4217, ISO 3166-1) — plus finsync's own (`FS-...`) where finsync is stricter than the
standard because it has to pay the invoice. Arithmetic follows the published tests: exact
totals, the VAT breakdown to within one unit where the standard allows it, and a missing
operand fails the rule (as XPath's empty sequence does), so a missing total is not "equal".
"""

import re
from collections.abc import Iterator
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

import pycountry

from canonical.money import MINOR_UNITS, decimal_places
from intake.document import Amount, UblInvoice
from intake.models import Finding

# Type codes that are a claim to be paid (UNTDID 1001): commercial, partial, debit note,
# prepayment. Corrected (384) and self-billed (389) invoices need a person; credit notes
# are refused before the rules.
PAYABLE_TYPES = {"380", "326", "383", "386"}
EN16931 = "urn:cen.eu:en16931:2017"
# VAT category code → the letters of its rule family (BR-S-08, BR-IC-08, ...).
FAMILY = {"S": "S", "Z": "Z", "E": "E", "AE": "AE", "K": "IC", "G": "G", "O": "O", "L": "AF", "M": "AG"}
BY_RATE = {"S", "AF", "AG"}  # one breakdown per rate, taxable amount to within one unit
# BR-DEC: amounts with at most two decimals (BT-110/111 are published with tests that cannot fail).
DEC = {"BT-106": "BR-DEC-09", "BT-107": "BR-DEC-10", "BT-108": "BR-DEC-11", "BT-109": "BR-DEC-12",
       "BT-112": "BR-DEC-14", "BT-113": "BR-DEC-16", "BT-114": "BR-DEC-17", "BT-115": "BR-DEC-18"}
ZERO = Decimal(0)
# Every published code this module can report, for holding it against mockeinvoice.validate().
IMPLEMENTED = frozenset(
    [f"BR-{n:02d}" for n in (*range(1, 17), *range(21, 28))]
    + [f"BR-CO-{n}" for n in (10, 11, 12, 13, 14, 15, 16, 17, 18, 25)]
    + ["BR-CL-03", "BR-CL-04", "BR-CL-05", "BR-CL-14", "PEPPOL-EN16931-R051", "PEPPOL-EN16931-R120"]
    + list(DEC.values()) + ["BR-DEC-01", "BR-DEC-05", "BR-DEC-19", "BR-DEC-20", "BR-DEC-23"]
    + [f"BR-{family}-08" for family in FAMILY.values()]
)
CENT = Decimal("0.01")
# What an ERP purchase order key can hold (SAP EBELN CHAR 10, EBELP NUMC 5). The order
# reference (BT-13) and its line ids (BT-132) go into SAP's URLs as keys: anything else is
# refused here, never passed on (the adapter percent-encodes keys as well).
PO_NUMBER = re.compile(r"[0-9A-Za-z]{1,10}")
PO_ITEM = re.compile(r"[0-9]{1,5}")
MAX_PO_NUMBER, MAX_PO_ITEM = 10, 5


def _xpath_round(n: Decimal) -> Decimal:
    """XPath's round(): a half goes towards positive infinity (Python's goes to even)."""
    return (n + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR)


def check(doc: UblInvoice) -> list[Finding]:
    return list(doc.syntax) + [Finding(code, msg) for code, msg in _all(doc)]


def _all(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    yield from _mandatory(doc)
    yield from _code_lists(doc)
    yield from _decimals(doc)
    yield from _totals(doc)
    yield from _lines(doc)
    yield from _vat(doc)
    yield from _purchase_orders(doc)


def _v(amount: Amount | None) -> Decimal | None:
    return amount.value if amount is not None else None


def _eq(a: Decimal | None, b: Decimal | None) -> bool:
    return a is not None and b is not None and a == b


def _show(n: Decimal | None) -> str:
    return "nothing" if n is None else format(n, "f")


def _mandatory(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    for code, value, what in (
        ("BR-01", doc.customization_id, "specification identifier (BT-24, cbc:CustomizationID)"),
        ("BR-02", doc.number, "invoice number (BT-1)"), ("BR-03", doc.issue_date, "issue date (BT-2)"),
        ("BR-04", doc.type_code, "invoice type code (BT-3)"), ("BR-05", doc.currency, "invoice currency code (BT-5)"),
        ("BR-06", doc.seller.name, "seller name (BT-27)"), ("BR-07", doc.buyer.name, "buyer name (BT-44)"),
        ("BR-08", doc.seller.has_address or None, "seller postal address (BG-5)"),
        ("BR-10", doc.buyer.has_address or None, "buyer postal address (BG-8)"),
        ("BR-12", doc.totals["BT-106"], "sum of line net amounts (BT-106)"),
        ("BR-13", doc.totals["BT-109"], "total without VAT (BT-109)"),
        ("BR-14", doc.totals["BT-112"], "total with VAT (BT-112)"),
        ("BR-15", doc.totals["BT-115"], "amount due (BT-115)"), ("BR-16", doc.lines or None, "invoice line (BG-25)"),
    ):
        if value is None:
            yield code, f"the invoice has no {what}"
    if doc.seller.has_address and not doc.seller.country:
        yield "BR-09", "the seller's postal address has no country code (BT-40)"
    if doc.buyer.has_address and not doc.buyer.country:
        yield "BR-11", "the buyer's postal address has no country code (BT-55)"
    for n, line in enumerate(doc.lines, 1):
        for code, field, what in (("BR-21", line.line_id, "identifier (BT-126)"),
                                  ("BR-22", line.quantity, "quantity (BT-129)"),
                                  ("BR-23", line.unit, "unit of measure (BT-130)"),
                                  ("BR-24", line.net, "net amount (BT-131)"),
                                  ("BR-25", line.name, "item name (BT-153)"),
                                  ("BR-26", line.price, "net price (BT-146)")):
            if field is None:
                yield code, f"line {n} has no {what}"
    for n, ac in enumerate(doc.allowances_charges, 1):
        if ac.amount is None:
            code, what = ("BR-36", "charge amount (BT-99)") if ac.charge else ("BR-31", "allowance amount (BT-92)")
            yield code, f"document level allowance or charge {n} has no {what}"
    if doc.customization_id and not doc.customization_id.startswith(EN16931):
        yield "FS-SPECIFICATION", f"{doc.customization_id!r} is not an EN 16931 specification identifier"
    if doc.type_code and doc.type_code not in PAYABLE_TYPES:
        yield "FS-INVOICE-TYPE", (f"type code {doc.type_code} is not an invoice intake pays "
                                  f"({', '.join(sorted(PAYABLE_TYPES))})")
    payable = _v(doc.totals["BT-115"])
    if payable is not None and payable > 0 and doc.due_date is None and not doc.has_payment_terms:
        yield "BR-CO-25", "an amount is due (BT-115) but there is no due date (BT-9) and no payment terms (BT-20)"


def _code_lists(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    iso = lambda code: pycountry.currencies.get(alpha_3=code) is not None  # noqa: E731
    if doc.currency and not iso(doc.currency):
        yield "BR-CL-04", f"invoice currency {doc.currency!r} is not an ISO 4217 code"
    elif doc.currency and doc.currency not in MINOR_UNITS:
        yield "FS-CURRENCY", f"{doc.currency} is an ISO 4217 code finsync does not pay in"
    if doc.tax_currency and not iso(doc.tax_currency):
        yield "BR-CL-05", f"VAT accounting currency {doc.tax_currency!r} is not an ISO 4217 code"
    for code in sorted({c for c in doc.currency_ids if not iso(c)}):
        yield "BR-CL-03", f"amounts in {code!r}, which is not an ISO 4217 code"
    # Peppol's rule: every amount is in the invoice currency, but for the VAT total in the
    # VAT accounting currency (BT-111). finsync can pay only one currency per invoice.
    others = [c for c in doc.currency_ids if c != doc.currency]
    bt111 = [t for t, subs in doc.tax_totals if t and t.currency == doc.tax_currency != doc.currency and not subs]
    if others and (len(others) > len(bt111) or any(c != doc.tax_currency for c in others)):
        yield "PEPPOL-EN16931-R051", f"{len(others)} amounts are not in the invoice currency {doc.currency or '(none)'}"
    for whose, party in (("seller", doc.seller), ("buyer", doc.buyer)):
        if party.country and pycountry.countries.get(alpha_2=party.country) is None:
            yield "BR-CL-14", f"the {whose}'s country {party.country!r} is not an ISO 3166-1 alpha-2 code"


def _decimals(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    amounts = [(DEC[t], t, doc.totals[t]) for t in DEC] + [("BR-DEC-23", f"line {n} BT-131", ln.net)
                                                           for n, ln in enumerate(doc.lines, 1)]
    for _, subs in doc.tax_totals:
        amounts += [(c, t, a) for s in subs for c, t, a in (("BR-DEC-19", "BT-116", s.taxable),
                                                            ("BR-DEC-20", "BT-117", s.tax))]
    amounts += [("BR-DEC-05" if ac.charge else "BR-DEC-01", "BT-99" if ac.charge else "BT-92", ac.amount)
                for ac in doc.allowances_charges]
    units = MINOR_UNITS.get(doc.currency or "")
    for code, term, amount in amounts:
        if amount is None or amount.value is None:
            continue
        places = decimal_places(amount.value)
        if places > 2:
            yield code, f"{term} {amount.text} has more than two decimals"
        elif units is not None and amount.value != amount.value.quantize(Decimal(1).scaleb(-units)):
            yield "FS-CURRENCY-SCALE", f"{term} {amount.text} has more decimals than {doc.currency} has ({units})"


def _doc_tax_total(doc: UblInvoice) -> tuple[list[Amount | None], list]:
    """The VAT totals in the invoice currency, and the breakdown under them."""
    in_currency = [(t, subs) for t, subs in doc.tax_totals
                   if doc.currency is None or (t is not None and t.currency == doc.currency)]
    return [t for t, _ in in_currency], [s for _, subs in in_currency for s in subs]


def _totals(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    t = {term: _v(a) for term, a in doc.totals.items()}
    if not any(a is not None for a in doc.totals.values()):
        return  # no LegalMonetaryTotal: BR-12..15 said so; the published tests skip these
    lines = [_v(ln.net) for ln in doc.lines]
    line_sum = sum((n for n in lines if n is not None), ZERO)
    if not _eq(t["BT-106"], line_sum):
        yield "BR-CO-10", (f"the sum of line net amounts (BT-106) is {_show(t['BT-106'])} "
                           f"and the lines come to {line_sum}")
    for code, term, charge, name in (("BR-CO-11", "BT-107", False, "allowances"),
                                     ("BR-CO-12", "BT-108", True, "charges")):
        parts = [_v(ac.amount) for ac in doc.allowances_charges if ac.charge == charge]
        total = sum((n for n in parts if n is not None), ZERO)
        if not (_eq(t[term], total) or (doc.totals[term] is None and not parts)):
            yield code, f"{term} is {_show(t[term])} and the {len(parts)} document {name} come to {total}"
    expected = None if t["BT-106"] is None else t["BT-106"] - (t["BT-107"] or ZERO) + (t["BT-108"] or ZERO)
    if not _eq(t["BT-109"], expected):
        yield "BR-CO-13", (f"the total without VAT (BT-109) is {_show(t['BT-109'])} "
                           f"and the parts come to {_show(expected)}")
    vat_totals, breakdown = _doc_tax_total(doc)
    if breakdown:
        vat = _v(vat_totals[0]) if len(vat_totals) == 1 else None
        summed = sum((_v(s.tax) or ZERO for s in breakdown), ZERO)
        if not _eq(vat, summed):
            yield "BR-CO-14", f"the total VAT amount (BT-110) is {_show(vat)} and the VAT breakdown comes to {summed}"
    if doc.currency and len(vat_totals) != 1:
        yield "BR-CO-15", f"there are {len(vat_totals)} total VAT amounts in {doc.currency}, not one"
    elif doc.currency:
        vat = _v(vat_totals[0])
        expected = None if t["BT-109"] is None or vat is None else t["BT-109"] + vat
        if not _eq(t["BT-112"], expected):
            yield "BR-CO-15", (f"the total with VAT (BT-112) is {_show(t['BT-112'])} "
                               f"and BT-109 + BT-110 come to {_show(expected)}")
    owed = None if t["BT-112"] is None else t["BT-112"] - (t["BT-113"] or ZERO) + (t["BT-114"] or ZERO)
    if not _eq(t["BT-115"], owed):
        yield "BR-CO-16", (f"the amount due (BT-115) is {_show(t['BT-115'])} "
                           f"and BT-112 - BT-113 + BT-114 come to {_show(owed)}")


def _lines(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    # Peppol's, not EN 16931's: but a line whose amount is not its quantity at its price is
    # a pricing error AP must see before paying. Published with a slack of 0.02.
    for n, ln in enumerate(doc.lines, 1):
        net, price = _v(ln.net), _v(ln.price)
        if price is None or price < 0:
            yield "BR-27", f"line {n}: the item net price (BT-146) is {_show(price)}; it must be there and not negative"
        if ln.base_quantity == 0:
            continue  # a division by nought: the published test can not be computed
        if net is None or price is None or ln.quantity is None:
            yield "PEPPOL-EN16931-R120", f"line {n}: no net amount, quantity or price to check against each other"
            continue
        expected = ln.quantity * price / (ln.base_quantity or 1) + ln.adjustment
        if abs(net - expected) > Decimal("0.02"):
            yield "PEPPOL-EN16931-R120", (f"line {n}: net {net} is not {ln.quantity} x {price} "
                                          f"+ charges - allowances = {expected:f}")


def _vat(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    _, breakdown = _doc_tax_total(doc)
    if not breakdown:
        yield "BR-CO-18", "there is no VAT breakdown (BG-23)"
    places = [(ln.category, ln.percent, _v(ln.net)) for ln in doc.lines]
    places += [(ac.category, ac.percent, (_v(ac.amount) or ZERO) * (1 if ac.charge else -1))
               for ac in doc.allowances_charges]
    for n, sub in enumerate(breakdown, 1):
        rate, tax, taxable = sub.percent, _v(sub.tax), _v(sub.taxable)
        if rate is None or _xpath_round(rate) == 0:
            ok = tax is not None and _xpath_round(tax) == 0
        else:
            due = None if taxable is None else (abs(taxable) * rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
            ok = tax is not None and due is not None and abs(tax) - 1 < due < abs(tax) + 1
        if not ok:
            yield "BR-CO-17", (f"VAT breakdown {n}: tax {_show(tax)} is not {_show(taxable)} at {_show(rate)}% "
                               "(to within one unit)")
        family = FAMILY.get(sub.category or "")
        if family is None or (family in BY_RATE and rate is None):
            continue
        same = [(r, a) for c, r, a in places if c == sub.category and (family not in BY_RATE or r == rate)]
        expected = sum((a or ZERO for _, a in same), ZERO)
        if family in BY_RATE:
            ok = bool(same) and taxable is not None and taxable - 1 < expected < taxable + 1
        else:
            ok = bool(doc.lines) and _eq(taxable, expected)
        if not ok:
            yield f"BR-{family}-08", (f"VAT breakdown {n} ({sub.category} {_show(rate)}%): "
                                      f"taxable amount {_show(taxable)}, "
                                      f"the lines, charges and allowances in it come to {expected}")


def quoted_purchase_order(doc: UblInvoice, order_line: str | None) -> bool:
    """Whether a line quotes an ERP purchase order: the order (BT-13) and its line (BT-132),
    both within the ERP's field lengths. A longer reference is the buyer's own, not an ERP PO."""
    return bool(doc.order_reference and order_line and len(doc.order_reference) <= MAX_PO_NUMBER
                and len(order_line) <= MAX_PO_ITEM)


def _purchase_orders(doc: UblInvoice) -> Iterator[tuple[str, str]]:
    """finsync's FS-PO-NUMBER: a PO the lines quote is letters and digits, its lines digits."""
    quoting = [(n, ln.order_line) for n, ln in enumerate(doc.lines, 1) if quoted_purchase_order(doc, ln.order_line)]
    if quoting and not PO_NUMBER.fullmatch(doc.order_reference or ""):
        yield "FS-PO-NUMBER", (f"the purchase order (BT-13) {doc.order_reference!r} the lines quote has characters a "
                               "purchase order number can not have: letters and digits only")
    for n, order_line in quoting:
        if not PO_ITEM.fullmatch(order_line or ""):
            yield "FS-PO-NUMBER", (f"line {n}: the order line (BT-132) {order_line!r} is not a purchase order item: "
                                   "digits only")
