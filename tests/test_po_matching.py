"""Matching invoice lines to purchase orders (issue 4): two-way against SAP's PO items, three-way
against goods receipts, with tolerances. A mismatch is a case for the buyer, never a posting.

Against the session mock-sap (seed 42): PO 4500000105 and 4500000111 belong to supplier 1000009
(bank account with an IBAN). Goods receipts are posted only on 4500000105/00030 and
4500000111/00010, and those tests compare with what was received before they ran.
"""

from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.master_data import check_purchase_orders
from activities.po_matching import PoTolerances, match_purchase_order
from adapters.sap_erp import SapErp
from canonical.erp import PurchaseOrder, PurchaseOrderItem
from canonical.invoice import Invoice, InvoiceLine
from settings import Settings
from tests import po_admin, sap_admin
from tests.helpers import far_due_date, invoice_json, new_worker, wait_for_status
from tests.test_bad_input import start_and_hold
from workflows.invoice_lifecycle import InvoiceToPayment

SUPPLIER, PO, PO_GR = "1000009", "4500000105", "4500000111"
CENT = Decimal("0.01")


def n(quantity: Decimal) -> str:
    return f"{quantity.normalize():f}"  # as a case text writes it: 9.000 -> 9


def po_invoice(*lines: tuple, supplier: str = SUPPLIER) -> Invoice:
    """Lines as (po, item, quantity, unit price) or (po, item, None, None, net amount);
    totals add up, 19 % tax."""
    body = []
    for n, (po, item, quantity, price, *net) in enumerate(lines, start=1):
        amount = net[0] if net else (Decimal(quantity) * Decimal(price)).quantize(CENT)
        line = {"line_no": n, "description": f"{po}/{item}", "net_amount": str(amount), "po_number": po,
                "po_item": item}
        if quantity is not None:
            line |= {"quantity": str(quantity), "unit_price": str(price)}
        body.append(line)
    net_total = sum(Decimal(line["net_amount"]) for line in body)
    tax = (net_total * Decimal("0.19")).quantize(CENT)
    return Invoice.model_validate(invoice_json(
        supplier_id=supplier, net_amount=str(net_total), tax_amount=str(tax), gross_amount=str(net_total + tax),
        due_date=far_due_date(), lines=body))


def rejection(exc: pytest.ExceptionInfo) -> tuple[str, str]:
    error = exc.value
    assert isinstance(error, ApplicationError) and error.non_retryable
    return error.type, error.message


@pytest.fixture
async def sap(sap_server: str):
    async with SapErp.from_settings(Settings(sap_url=sap_server)) as erp:  # the port, with goods receipts
        yield erp


async def test_seeded_purchase_orders_are_what_the_tests_assume(sap):
    for number, items in {PO: ["00010", "00020", "00030"], PO_GR: ["00010"]}.items():
        po = await sap.get_purchase_order(number)
        assert (po.supplier_id, po.company_code, po.currency) == (SUPPLIER, "1710", "EUR"), "mock-sap's seed changed"
        assert [item.item for item in po.items] == items
    assert [(i.quantity, i.net_price) for i in (await sap.get_purchase_order(PO)).items] == [
        (Decimal("391"), Decimal("32.77")), (Decimal("83"), Decimal("218.50")), (Decimal("243"), Decimal("631.02"))]


# -- the lifecycle: validated and posted, or held for the buyer with nothing posted ----------


async def test_exact_match_is_validated_and_posted(client: Client, sap_server, store):
    invoice = po_invoice((PO, "10", 2, "32.77"), (PO, "00020", 1, "218.50"))  # "10" is SAP's 00010
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        view = await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    assert view.open_exception is None
    assert len(await sap_admin.invoices_in_erp(sap_server, SUPPLIER, invoice.supplier_invoice_ref)) == 1


async def test_price_above_tolerance_is_held_for_the_buyer(client: Client, sap_server, store):
    invoice = po_invoice((PO, "10", 2, "33.75"))  # 2.99 % above 32.77, tolerance 2 %
    case = await start_and_hold(client, sap_server, store, invoice, "PurchaseOrderMismatch")
    assert case.owner.value == "buyer"
    assert "PO 4500000105 item 00010" in case.reason and "33.75 EUR per PC" in case.reason
    assert "32.77 EUR" in case.reason and "+2.99 %" in case.reason and "tolerance 2 %" in case.reason


async def test_unknown_purchase_order_is_held_for_the_buyer(client: Client, sap_server, store):
    invoice = po_invoice(("4599999999", "10", 1, "10.00"))
    case = await start_and_hold(client, sap_server, store, invoice, "UnknownPurchaseOrder")
    assert case.owner.value == "buyer" and "4599999999" in case.reason


async def test_invoiced_more_than_received_is_held_for_the_buyer(client: Client, sap_server, store):
    before = await po_admin.received_quantity(sap_server, PO_GR, "00010")
    await po_admin.post_goods_receipt(sap_server, PO_GR, "00010", Decimal(4))
    invoice = po_invoice((PO_GR, "10", before + 5, "501.88"))
    case = await start_and_hold(client, sap_server, store, invoice, "PurchaseOrderMismatch")
    assert case.owner.value == "buyer"
    assert f"invoiced {n(before + 5)} PC, received {n(before + 4)} PC per goods receipts (tolerance 0 %)" in case.reason


# -- the check itself against the real mock-sap ------------------------------------------------


async def test_price_within_tolerance_passes(sap):
    await check_purchase_orders(sap, po_invoice((PO, "10", 3, "33.26")))  # +1.49 %, tolerances from settings


async def test_quantity_above_ordered_is_a_mismatch_unless_within_tolerance(sap):
    invoice = po_invoice((PO, "20", 50, "218.50"), (PO, "20", 34, "218.50"))  # lines summed: 84 of 83
    with pytest.raises(ApplicationError) as exc:
        await check_purchase_orders(sap, invoice, PoTolerances())
    assert rejection(exc) == ("PurchaseOrderMismatch",
                              "PO 4500000105 item 00020: invoiced 84 PC, ordered 83 PC (tolerance 0 %)")
    await check_purchase_orders(sap, invoice, PoTolerances(quantity_percent=Decimal("1.5")))  # 84 <= 84.245


async def test_three_way_follows_receipts_and_their_reversals(sap, sap_server):
    before = await po_admin.received_quantity(sap_server, PO, "00030")
    await po_admin.post_goods_receipt(sap_server, PO, "30", Decimal(3))  # SAP's own document, unpadded
    received = (await sap.received_quantities(PO))["00030"]
    assert received == before + 3
    await check_purchase_orders(sap, po_invoice((PO, "00030", received, "631.02")), PoTolerances())
    await po_admin.post_goods_receipt(sap_server, PO, "00030", Decimal(1), movement_type="102")
    with pytest.raises(ApplicationError) as exc:
        await check_purchase_orders(sap, po_invoice((PO, "00030", received, "631.02")), PoTolerances())
    assert f"received {n(received - 1)} PC per goods receipts" in rejection(exc)[1]


async def test_goods_receipt_required_by_setting(sap):
    invoice = po_invoice((PO, "20", 1, "218.50"))  # no receipt is ever posted for this item
    await check_purchase_orders(sap, invoice, PoTolerances())  # two-way only
    with pytest.raises(ApplicationError) as exc:
        await check_purchase_orders(sap, invoice, PoTolerances(require_goods_receipt=True))
    assert "item 00020: no goods receipt posted" in rejection(exc)[1]


async def test_lines_without_quantity_are_held_to_the_item_value(sap):
    # 391 PC x 32.77 = 12813.07; +2 % price tolerance = 13069.3314, rounded up to the cent
    await check_purchase_orders(sap, po_invoice((PO, "10", None, None, "13069.34")), PoTolerances())
    with pytest.raises(ApplicationError) as exc:
        await check_purchase_orders(sap, po_invoice((PO, "10", None, None, "13069.35")), PoTolerances())
    assert "lines bill 13069.35 EUR, more than the 13069.34 EUR that 391 PC at 32.77 EUR" in rejection(exc)[1]


async def test_po_of_another_supplier_and_unknown_item(sap):
    with pytest.raises(ApplicationError) as exc:
        await check_purchase_orders(sap, po_invoice(("4500000101", "10", 1, "301.14")), PoTolerances())
    assert rejection(exc)[0] == "PurchaseOrderMismatch" and "supplier 1000015" in rejection(exc)[1]
    with pytest.raises(ApplicationError) as exc:
        await check_purchase_orders(sap, po_invoice((PO, "40", 1, "1.00")), PoTolerances())
    assert rejection(exc)[1] == "purchase order 4500000105 has no item 40 (line 1)"


# -- matching rules without a server -----------------------------------------------------------


def line(n: int, net: str, quantity: str | None = None, price: str | None = None, item: str = "10") -> InvoiceLine:
    return InvoiceLine(line_no=n, description="x", net_amount=net, quantity=quantity, unit_price=price,
                       po_number="4500000999", po_item=item)


# 1.00 EUR per 3 PC: a price per unit no line amount can state exactly.
THIRDS = PurchaseOrder(po_number="4500000999", company_code="1710", supplier_id="1", currency="EUR", items=[
    PurchaseOrderItem(item="00010", quantity=Decimal(9), unit="PC", net_price=Decimal("1.00"),
                      price_unit_quantity=Decimal(3))])


def test_derived_price_allows_the_rounding_of_the_line_amount_only():
    exact = PoTolerances(price_percent=Decimal(0))
    assert match_purchase_order(THIRDS, [line(1, "0.67", "2")], {}, exact, "EUR") == []  # 2 x 0.3333 = 0.6667
    [problem] = match_purchase_order(THIRDS, [line(1, "0.68", "2")], {}, exact, "EUR")
    assert problem == ("PO 4500000999 item 00010: line 1 bills 0.34 EUR per PC, "
                       "the PO net price is 0.3333 EUR (+2 %, tolerance 0 %)")


def test_received_then_fully_reversed_is_not_the_same_as_never_received():
    lines = [line(1, "1.00", "3")]
    assert match_purchase_order(THIRDS, lines, {}, PoTolerances(), "EUR") == []
    [problem] = match_purchase_order(THIRDS, lines, {"00010": Decimal(0)}, PoTolerances(), "EUR")
    assert "invoiced 3 PC, received 0 PC" in problem


def test_every_problem_is_reported_at_once():
    lines = [line(1, "4.00", "10", "0.40"), line(2, "1.00", item="20")]
    assert match_purchase_order(THIRDS, lines, {"00010": Decimal(5)}, PoTolerances(), "EUR") == [
        "purchase order 4500000999 has no item 20 (line 2)",
        "PO 4500000999 item 00010: line 1 bills 0.40 EUR per PC, the PO net price is 0.3333 EUR (+20 %, tolerance 2 %)",
        "PO 4500000999 item 00010: invoiced 10 PC, ordered 9 PC (tolerance 0 %)",
        "PO 4500000999 item 00010: invoiced 10 PC, received 5 PC per goods receipts (tolerance 0 %)",
    ]
