"""SAP Gateway's own paging (`__next`), which mock-sap never sends: a stand-in gateway that
pages every answer by two rows, behind the real SapClient. The reads against mock-sap itself
are in test_sap_adapter.py; here only what the mock cannot show."""

from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs

import httpx

from adapters.sap import SapClient
from adapters.sap_goods_receipts import SapGoodsReceipts
from adapters.sap_reconciliation import erp_supplier_items
from adapters.sap_vendors import SapVendors

OURS = "http://sap.test"
GATEWAY_PAGE = 2  # rows per answer, whatever $top asked


class PagingGateway:
    """Answers a read of `rows` a window at a time ($skip/$top), each window in answers of two
    rows linked by `__next`. The links name another host, as a misconfigured or forged gateway
    might; the last answer of a whole read carries `__delta`."""

    def __init__(self, rows: list[dict], **by_entity_set: list[dict]):
        self.rows, self.by_entity_set = rows, by_entity_set  # by entity set name, else `rows`
        self.requests: list[httpx.URL] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url)
        rows = self.by_entity_set.get(request.url.path.rsplit("/", 1)[-1], self.rows)
        q = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        start = int(q.get("$skip", "0"))
        end = min(len(rows), start + int(q.get("$top", str(len(rows)))))
        at = int(q.get("$skiptoken", str(start)))
        upto = int(q.get("$windowend", str(end)))
        body: dict = {"results": rows[at:min(at + GATEWAY_PAGE, upto)]}
        if at + GATEWAY_PAGE < upto:
            body["__next"] = (f"https://elsewhere.example{request.url.path}"
                              f"?$skiptoken={at + GATEWAY_PAGE}&$windowend={upto}")
        elif upto == len(rows):
            body["__delta"] = f"{OURS}{request.url.path}?!deltatoken='T1'"
        return httpx.Response(200, json={"d": body})


def client(gateway: PagingGateway) -> SapClient:
    return SapClient(OURS, transport=httpx.MockTransport(gateway.handle))


async def test_a_read_follows_next_links_on_our_own_host_to_the_last_page():
    rows = [{"n": i} for i in range(5)]
    gateway = PagingGateway(rows)
    async with client(gateway) as sap:
        read, delta = await sap.read_all("/sap/opu/odata/sap/X_SRV/A_Thing", {"$filter": "n ge 0"})
    assert read == rows  # every row once, in the gateway's order
    assert delta == f"{OURS}/sap/opu/odata/sap/X_SRV/A_Thing?!deltatoken='T1'"
    assert len(gateway.requests) == 3
    # The links named elsewhere.example: only their path and query were followed, to our SAP.
    assert {url.host for url in gateway.requests} == {"sap.test"}
    assert [list(parse_qs(url.query.decode())) for url in gateway.requests] == \
        [["$filter"], ["$skiptoken", "$windowend"], ["$skiptoken", "$windowend"]]  # the link's query only


async def test_invoices_of_an_amount_are_all_read_when_the_gateway_pages_each_window():
    rows = [{"SupplierInvoice": f"51056{i:05d}", "FiscalYear": "2026", "AccountingDocument": "",
             "SupplierInvoiceIDByInvcgParty": f"FEE-{i}", "DocumentDate": "/Date(1796169600000)/",
             "InvoiceGrossAmount": "99.00", "DocumentCurrency": "EUR"} for i in range(7)]
    gateway = PagingGateway(rows)
    async with client(gateway) as sap:
        read = await sap.invoices_of_amount("1000013", "1710", Decimal("99.00"), "EUR", page=3)
    assert [invoice.reference for invoice in read] == [f"FEE-{i}" for i in range(7)]
    # Windows of 3 from $skip 0, 3 and 6, each answered two rows at a time: 2 + 2 + 1 answers.
    assert [parse_qs(url.query.decode()).get("$skip") for url in gateway.requests] == \
        [["0"], None, ["3"], None, ["6"]]


async def test_goods_receipts_add_up_across_the_gateways_pages():
    rows = [{"PurchaseOrderItem": "10", "GoodsMovementType": "101", "QuantityInEntryUnit": "4"}] * 3 + \
           [{"PurchaseOrderItem": "00010", "GoodsMovementType": "102", "QuantityInEntryUnit": "1"}]
    gateway = PagingGateway(rows)
    async with client(gateway) as sap:
        received = await SapGoodsReceipts(sap).received_quantities("4500000001")
    assert received == {"00010": Decimal("11")}  # 3 x 4 received, 1 returned, over two answers
    assert len(gateway.requests) == 2


async def test_the_reconciliation_reads_every_supplier_item_and_reference_across_pages():
    """An item past the gateway's first page, left out, would be a difference nobody sees."""
    items = [{"AccountingDocument": f"51000000{i:02d}", "FiscalYear": "2026", "CompanyCode": "1710",
              "Supplier": "1000013", "AmountInTransactionCurrency": "119.000", "TransactionCurrency": "EUR",
              "PaymentBlockingReason": "", "ClearingAccountingDocument": "", "ClearingDate": None} for i in range(5)]
    invoices = [{"AccountingDocument": item["AccountingDocument"], "FiscalYear": "2026",
                 "SupplierInvoiceIDByInvcgParty": f"REF-{i}"} for i, item in enumerate(items)]
    gateway = PagingGateway([], A_OperationalAcctgDocItemCube=items, A_SupplierInvoice=invoices)
    async with client(gateway) as sap:
        read = await erp_supplier_items(sap, "1710", date(2026, 11, 1))
    assert [(item.accounting_document, item.reference, str(item.amount)) for item in read] == \
        [(f"51000000{i:02d}", f"REF-{i}", "119.00") for i in range(5)]
    assert len(gateway.requests) == 6  # 3 answers of items, 3 of their references


async def test_vat_ids_of_every_business_partner_are_read_across_pages():
    rows = [{"BusinessPartner": f"100001{i}", "BPTaxType": "DE0", "BPTaxNumber": f"DE12345678{i}"} for i in range(5)]
    gateway = PagingGateway([], A_BusinessPartnerTaxNumber=rows)
    async with client(gateway) as sap:
        vat_ids = await SapVendors(sap).read_vat_ids()
    assert vat_ids == {f"100001{i}": f"DE12345678{i}" for i in range(5)}
    assert len(gateway.requests) == 3
