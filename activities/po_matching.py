"""Matching invoice lines to a purchase order: two-way against the PO item's net price and
ordered quantity, three-way against the quantity received where goods receipts exist.

Pure functions over canonical models, no I/O: activities/master_data.py reads the PO and its
receipts and turns the problems found here into one PurchaseOrderMismatch case for the buyer.
A mismatch is never posted with a note; a person decides (issue 4).

Deliberately not done here:
  * Units: quantities are compared as numbers in the PO's order unit. Intake writes UN/ECE
    codes (HUR) where SAP says H, and there is no conversion table to trust yet.
  * Earlier invoices on the same PO item: only this invoice's lines are summed. Cumulative
    matching would need every earlier invoice's quantity per item from SAP.
  * A price below the PO price passes: it is in our favour and the buyer need not look.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from adapters.sap_goods_receipts import po_item_key
from canonical.erp import PurchaseOrder, PurchaseOrderItem
from canonical.invoice import InvoiceLine
from canonical.money import decimal_places, minor_units

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class PoTolerances:
    price_percent: Decimal = Decimal(2)  # above the PO net price per unit
    quantity_percent: Decimal = Decimal(0)  # above the ordered, and the received, quantity
    require_goods_receipt: bool = False  # True: an item with no goods receipt is a mismatch

    @classmethod
    def from_settings(cls, settings) -> "PoTolerances":
        return cls(
            price_percent=settings.po_price_tolerance_percent,
            quantity_percent=settings.po_quantity_tolerance_percent,
            require_goods_receipt=settings.po_require_goods_receipt,
        )


def match_purchase_order(
    po: PurchaseOrder, lines: list[InvoiceLine], received: dict[str, Decimal], tolerances: PoTolerances, currency: str
) -> list[str]:
    """Problems with the invoice lines that quote `po`, each naming PO, item, what was
    invoiced against what was ordered/received/priced, and the tolerance; [] when they match.
    `received` maps padded item numbers to the net received quantity; an item missing from it
    has no goods receipt at all."""
    items = {po_item_key(item.item): item for item in po.items}
    by_item: dict[str, list[InvoiceLine]] = defaultdict(list)
    problems: list[str] = []
    for line in lines:
        key = po_item_key(line.po_item or "")
        if key not in items:
            problems.append(f"purchase order {po.po_number} has no item {line.po_item} (line {line.line_no})")
        else:
            by_item[key].append(line)
    for key in sorted(by_item):
        problems += _match_item(po.po_number, items[key], by_item[key], received.get(key), tolerances, currency)
    return problems


def _match_item(
    po_number: str, item: PurchaseOrderItem, lines: list[InvoiceLine], received: Decimal | None,
    tolerances: PoTolerances, currency: str,
) -> list[str]:
    name, unit = f"PO {po_number} item {po_item_key(item.item)}", item.unit or "unit"
    # SAP prices per NetPriceQuantity units ("12.00 per 10 PC"); ABAP's initial 0 means 1.
    price = item.net_price / (item.price_unit_quantity or Decimal(1))
    price_limit = price * _factor(tolerances.price_percent)
    quantity_factor = _factor(tolerances.quantity_percent)
    problems = []

    for line in lines:
        if line.unit_price is not None:
            billed_price, over = line.unit_price, line.unit_price > price_limit
        elif line.quantity is not None:
            # No stated price: net / quantity. The line amount was rounded to the currency's
            # minor unit, so compare amounts and allow that rounding, never more.
            billed_price = line.net_amount / line.quantity
            over = line.net_amount > _round_up(line.quantity * price_limit, currency)
        else:
            continue  # neither price nor quantity: held to the item's value below
        if over:
            problems.append(
                f"{name}: line {line.line_no} bills {_money(billed_price, currency)} {currency} per {unit}, "
                f"the PO net price is {_money(price, currency)} {currency} "
                f"(+{_percent_over(billed_price, price)} %, tolerance {_num(tolerances.price_percent)} %)"
            )

    quantities = [line.quantity for line in lines if line.quantity is not None]
    invoiced = sum(quantities, Decimal(0))
    tolerance = f"tolerance {_num(tolerances.quantity_percent)} %"
    if quantities and invoiced > item.quantity * quantity_factor:
        problems.append(f"{name}: invoiced {_num(invoiced)} {unit}, ordered {_num(item.quantity)} {unit} ({tolerance})")
    if received is None:
        # No goods receipt at all: services and goods not yet received. Two-way only, unless
        # the finance team requires receipts before paying (po_require_goods_receipt).
        if tolerances.require_goods_receipt:
            problems.append(f"{name}: no goods receipt posted, and one is required before the invoice is paid")
    elif quantities and invoiced > received * quantity_factor:
        problems.append(f"{name}: invoiced {_num(invoiced)} {unit}, received {_num(received)} {unit} "
                        f"per goods receipts ({tolerance})")

    if len(quantities) < len(lines):
        # A line without a quantity can not be checked per unit; the item's amount is held
        # to what the item is worth: ordered (or received, if less) at the PO price, each
        # with its tolerance.
        basis = item.quantity if received is None else min(item.quantity, received)
        ceiling = _round_up(basis * quantity_factor * price_limit, currency)
        billed = sum((line.net_amount for line in lines), Decimal(0))
        if billed > ceiling:
            problems.append(
                f"{name}: lines bill {_money(billed, currency)} {currency}, more than the {_money(ceiling, currency)} "
                f"{currency} that {_num(basis)} {unit} at {_money(price, currency)} {currency} come to with tolerances "
                f"(price {_num(tolerances.price_percent)} %, quantity {_num(tolerances.quantity_percent)} %)"
            )
    return problems


def _factor(percent: Decimal) -> Decimal:
    return 1 + percent / HUNDRED


def _round_up(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_CEILING)


def _percent_over(actual: Decimal, reference: Decimal) -> str:
    if not reference:
        return "inf"
    return _num(((actual / reference - 1) * HUNDRED).quantize(Decimal("0.01")))


def _num(value: Decimal) -> str:
    """Plain digits for a person: 213.000 → 213, 2.50 → 2.5 (quantities and percentages)."""
    if value == value.to_integral_value():
        return format(value.quantize(Decimal(1)), "f")
    return format(value.normalize(), "f")


def _money(value: Decimal, currency: str) -> str:
    """The currency's decimals, more only for a derived price (at most 4): 100.5 → 100.50,
    1.00 per 3 PC → 0.3333."""
    units = Decimal(1).scaleb(-minor_units(currency))
    shown = value.quantize(Decimal("0.0001")).normalize()
    return format(shown if decimal_places(shown) > decimal_places(units) else value.quantize(units), "f")
