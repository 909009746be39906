"""SapClient against a real mock-sap server (no fakes: the point is SAP's actual behaviour)."""

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest

from adapters.sap import SapBusinessError, SapClient, SapOutcomeUnknown, SapTransientError
from canonical.invoice import Invoice

BP_SRV = "/sap/opu/odata/sap/API_BUSINESS_PARTNER_SRV"
SI_SRV = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV"
INVOICE_DATE = date(2026, 9, 20)


@pytest.fixture
async def control(sap_url):
    """Plain HTTP to the mock's control plane, and to SAP where a test plays another user."""
    async with httpx.AsyncClient(base_url=sap_url, headers={"Connection": "close", "Accept": "application/json"}) as c:
        await c.delete("/_mock/faults")
        yield c
        await c.delete("/_mock/faults")


class RecordingTransport(httpx.AsyncHTTPTransport):
    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    async def handle_async_request(self, request):
        kind = "fetch" if request.headers.get("x-csrf-token") == "Fetch" else request.method
        self.sent.append((kind, request.url.path))
        return await super().handle_async_request(request)


def new_ref() -> str:
    return "T" + uuid.uuid4().hex[:12].upper()


def make_invoice(ref: str, *, gross="1190.00", tax="190.00", lines=None, **extra) -> Invoice:
    net = str(Decimal(gross) - Decimal(tax))
    return Invoice(
        company_code="1710",
        supplier_id="1000013",
        supplier_invoice_ref=ref,
        invoice_date=INVOICE_DATE,
        currency="EUR",
        net_amount=net,
        tax_amount=tax,
        gross_amount=gross,
        payment_terms={"code": "NT30", "net_days": 30},
        lines=lines or [{"line_no": 1, "description": "Consulting", "net_amount": net}],
        **extra,
    )


async def fault(control: httpx.AsyncClient, **rule) -> None:
    response = await control.post("/_mock/faults",
                                  json={"match": "A_SupplierInvoice$", "method": "POST", "count": 1, **rule})
    assert response.status_code == 201, response.text


# -- master data ----------------------------------------------------------------------------


async def test_supplier_with_iban_and_bic(sap):
    supplier = await sap.get_supplier("1000013")
    assert supplier.supplier_id == "1000013" and not supplier.is_blocked
    [account] = supplier.bank_accounts
    assert (account.bank_account_id, account.iban, account.bic) == ("0001", "NL14MOCK0000000002", "MOCKNL2A")


async def test_supplier_with_two_accounts_sorted(sap):
    supplier = await sap.get_supplier("1000009")
    assert supplier.name == "Sunrise Retail Group"
    assert [(a.bank_account_id, a.iban, a.bic) for a in supplier.bank_accounts] == [
        ("0001", "DE54370400440007000063", "SOLADES1HDB"),
        ("0002", "DE62370400450007000064", "DEUTDEFF"),
    ]


async def test_supplier_without_iban_has_domestic_account(sap):
    [account] = (await sap.get_supplier("1000010")).bank_accounts
    assert account.iban is None and account.bic is None
    assert (account.country, account.bank_number, account.account_number) == ("US", "37040044", "0007000070")


async def test_unknown_supplier_and_non_supplier_are_none(sap):
    assert await sap.get_supplier("9999999") is None
    assert await sap.get_supplier("1000001") is None  # a customer, not a supplier


async def test_blocked_supplier(sap, control):
    token = (await control.get(f"{BP_SRV}/", headers={"X-CSRF-Token": "Fetch"})).headers["x-csrf-token"]

    async def set_blocked(blocked: bool) -> None:
        r = await control.patch(
            f"{BP_SRV}/A_BusinessPartner('1000016')",
            json={"BusinessPartnerIsBlocked": blocked},
            headers={"X-CSRF-Token": token},
        )
        assert r.status_code == 204, r.text

    await set_blocked(True)
    try:
        assert (await sap.get_supplier("1000016")).is_blocked
    finally:
        await set_blocked(False)
    assert not (await sap.get_supplier("1000016")).is_blocked


async def test_purchase_order(sap):
    po = await sap.get_purchase_order("4500000101")
    assert (po.company_code, po.supplier_id, po.currency) == ("1710", "1000015", "EUR")
    assert [i.item for i in po.items] == ["00010", "00020", "00030"]
    assert (po.items[0].quantity, po.items[0].net_price) == (Decimal("213.000"), Decimal("301.14"))
    assert await sap.get_purchase_order("4599999999") is None


class RawPathTransport(httpx.AsyncHTTPTransport):
    """The path as it goes on the wire (percent-escapes kept)."""

    def __init__(self):
        super().__init__()
        self.paths: list[str] = []

    async def handle_async_request(self, request):
        self.paths.append(request.url.raw_path.decode().split("?")[0])
        return await super().handle_async_request(request)


@pytest.mark.parametrize("po_number", ["4500000101')/../../API_BUSINESS_PARTNER_SRV/A_BusinessPartner('1000013",
                                       "4500000101'?$format=xml#", "45/00", "O'NEIL"])
async def test_a_key_from_outside_stays_inside_its_key_segment(sap_url, po_number):
    """A PO number off an e-invoice with a quote, slash, ? or #: the request still names
    A_PurchaseOrder with that one (percent-encoded) key, and SAP finds no such order (or
    refuses the key as malformed: mock-sap does for `$`, `=` and `#` in a key)."""
    transport = RawPathTransport()
    async with SapClient(sap_url, transport=transport) as client:
        try:
            assert await client.get_purchase_order(po_number) is None
        except SapBusinessError as refused:
            assert "Malformed key predicate" in refused.message and "?$format=xml#" in refused.message
        assert (await client.get_purchase_order("4500000101")).po_number == "4500000101"  # encoded, still found
    weird, plain = transport.paths
    service, entity = weird.rsplit("/", 1)
    assert service == "/sap/opu/odata/sap/API_PURCHASEORDER_PROCESS_SRV", weird
    assert entity.startswith("A_PurchaseOrder('") and entity.endswith("')") and "'" not in entity[17:-2], entity
    assert plain.endswith("/A_PurchaseOrder('4500000101')")


async def test_company_code_comes_from_register(sap):
    assert (await sap.get_company_code("1710")).currency == "EUR"
    assert await sap.get_company_code("9999") is None


# -- posting --------------------------------------------------------------------------------


async def test_post_then_find_exactly_one(sap):
    ref = new_ref()
    posted = await sap.post_supplier_invoice(make_invoice(f"{ref[:6].lower()} {ref[6:]}", bank_account_id="0001"))
    assert posted.reference == ref  # normalised: spaces gone, upper case
    assert posted.gross_amount == Decimal("1190.00") and posted.currency == "EUR"
    assert posted.net_due_date == INVOICE_DATE + timedelta(days=30)
    assert posted.erp_document.accounting_document
    assert await sap.find_supplier_invoices("1000013", ref) == [posted]
    assert await sap.find_supplier_invoices("1000013", "NO'SUCH") == []  # quote escaped, no 400


async def test_every_invoice_of_an_amount_is_read_past_the_first_page(sap):
    """The near-duplicate check's ERP read pages to the end: a supplier's same-amount invoices
    beyond one page (a monthly fee, a thousand months in) are compared too."""
    gross = f"{uuid.uuid4().int % 90000 + 10000}.37"  # an amount no other test posts
    refs = [new_ref() for _ in range(5)]
    for ref in refs:
        await sap.post_supplier_invoice(make_invoice(ref, gross=gross, tax="0.00"))
    read = await sap.invoices_of_amount("1000013", "1710", Decimal(gross), "EUR", page=2)
    assert sorted(other.reference for other in read) == sorted(refs)
    assert [other.document for other in read] == sorted({other.document for other in read})  # each once, in order
    assert await sap.invoices_of_amount("1000013", "1710", Decimal(gross), "EUR", page=5) == read  # a full last page


async def test_post_with_po_lines(sap, control):
    lines = [
        {"line_no": 1, "description": "Keyboard " * 8, "net_amount": "600.00", "quantity": "2", "unit": "PC",
         "po_number": "4500000101", "po_item": "10"},
        {"line_no": 2, "description": "Cable", "net_amount": "400.00", "po_number": "4500000101", "po_item": "00020"},
    ]

    async def items_of(posted):
        doc = posted.erp_document
        path = f"{SI_SRV}/A_SupplierInvoice(SupplierInvoice='{doc.invoice_document}',FiscalYear='{doc.fiscal_year}')"
        rows = (await control.get(f"{path}/to_SuplrInvcItemPurOrdRef")).json()["d"]["results"]
        return [(r["PurchaseOrderItem"], r["SupplierInvoiceItemAmount"], r["SupplierInvoiceItemText"]) for r in rows]

    # Taxed: the lines add up to the net, SAP checks stated item amounts against the gross,
    # so the items go without amounts.
    taxed = await sap.post_supplier_invoice(make_invoice(new_ref(), lines=lines))
    assert await items_of(taxed) == [("00010", "0.00", ("Keyboard " * 8)[:50]), ("00020", "0.00", "Cable")]
    # Untaxed: net == gross, so the items state their amounts.
    untaxed = await sap.post_supplier_invoice(make_invoice(new_ref(), gross="1000.00", tax="0.00", lines=lines))
    assert [amount for _, amount, _ in await items_of(untaxed)] == ["600.00", "400.00"]


async def test_busy_is_transient_with_retry_after_and_posts_nothing(sap, control):
    await fault(control, scenario="busy")
    ref = new_ref()
    with pytest.raises(SapTransientError) as caught:
        await sap.post_supplier_invoice(make_invoice(ref))
    assert caught.value.retry_after == 30.0
    assert await sap.find_supplier_invoices("1000013", ref) == []


async def test_timeout_after_send_is_outcome_unknown(sap_url, sap, control):
    await fault(control, scenario="slow")  # SAP sleeps 3 s, then posts anyway
    ref = new_ref()
    async with SapClient(sap_url, timeout=1.0) as impatient:
        with pytest.raises(SapOutcomeUnknown):
            await impatient.post_supplier_invoice(make_invoice(ref))
    assert await sap.find_supplier_invoices("1000013", ref) == []  # not yet...
    await asyncio.sleep(3.5)
    assert len(await sap.find_supplier_invoices("1000013", ref)) == 1  # ...but it did post


async def test_expired_csrf_token_is_refetched_once(sap_url, control):
    await fault(control, scenario="csrf")
    transport = RecordingTransport()
    async with SapClient(sap_url, transport=transport) as sap:
        ref = new_ref()
        await sap.post_supplier_invoice(make_invoice(ref))
        kinds = [kind for kind, _ in transport.sent]
        assert kinds == ["fetch", "POST", "fetch", "POST"]
        assert len(await sap.find_supplier_invoices("1000013", ref)) == 1


async def test_business_error_carries_sap_message(sap):
    with pytest.raises(SapBusinessError) as caught:
        await sap.post_supplier_invoice(make_invoice("R" + "1234567890123456"))  # 17 chars
    error = caught.value
    assert (error.status, error.code) == (400, "/IWBEP/CX_MGW_BUSI_EXCEPTION")
    assert "exceeds maximum length 16" in error.message


async def test_postability_problems(sap):
    assert sap.postability_problems(make_invoice("R" + "1234567890123456")) != []
    assert sap.postability_problems(make_invoice("inv 1234 5678 90123")) == []  # 16 once normalised
    long_text = [{"line_no": 1, "description": "x" * 120, "net_amount": "1000.00"}]
    assert sap.postability_problems(make_invoice(new_ref(), lines=long_text)) == []  # truncated, not refused
    half_po = [{"line_no": 1, "description": "x", "net_amount": "1000.00", "po_number": "4500000101"}]
    assert len(sap.postability_problems(make_invoice(new_ref(), lines=half_po))) == 1


async def test_set_and_clear_payment_block(sap):
    ref = new_ref()
    posted = await sap.post_supplier_invoice(make_invoice(ref))
    await sap.set_payment_block(posted.erp_document, "A")
    [blocked] = await sap.find_supplier_invoices("1000013", ref)
    assert blocked.payment_block == "A"
    await sap.set_payment_block(posted.erp_document, "")
    [released] = await sap.find_supplier_invoices("1000013", ref)
    assert released.payment_block == "" and released.gross_amount == posted.gross_amount
