"""Company code 2710 booked in a real Tryton (tests/tryton_server.py) through the real workflows:
its port for a worker (tests/helpers.py `new_worker(erps=...)`), its paying account ACMEDE at
mock-bank, its invoices, and reads of Tryton's books to assert on."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx

from adapters.tryton import TrytonErp
from adapters.tryton_rpc import TrytonRpc
from canonical.invoice import Invoice
from cli.tryton_seed import COMPANY_IBAN
from tests import bank_admin
from tests.clock import business_today
from tests.helpers import make_invoice, unique_ref
from tests.tryton_server import TrytonServer

# ACMEDE (settings' sample paying account of 2710) as mock-bank holds it: the seed's IBAN.
ACMEDE_AT_THE_BANK = {"id": "ACMEDE", "name": "ACME Retail GmbH", "iban": COMPANY_IBAN, "currency": "EUR",
                      "balance": 10_000_000}


class LoseAnswer(httpx.AsyncBaseTransport):
    """Sends the request to Tryton, then loses the answer of the first call of `method`: the
    call was applied, the caller never hears so (a timeout after the server committed)."""

    def __init__(self, method: str) -> None:
        self._inner, self._method, self.lost = httpx.AsyncHTTPTransport(), method, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if not self.lost and json.loads(request.content).get("method") == self._method:
            await response.aread()
            self.lost += 1
            raise httpx.ReadTimeout("answer lost on the way back", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def connect(server: TrytonServer, transport: httpx.AsyncBaseTransport | None = None) -> TrytonErp:
    rpc = TrytonRpc(server.url, server.database, server.user, server.password, transport=transport)
    return TrytonErp(server.url, server.database, server.user, server.password, rpc=rpc)


@asynccontextmanager
async def tryton_erps(server: TrytonServer, transport: httpx.AsyncBaseTransport | None = None,
                      ) -> AsyncIterator[dict[str, Any]]:
    """The ERP instances of a worker beside mock-sap: "tryton", as the legal entities name it."""
    async with connect(server, transport) as port:
        yield {"tryton": port}


async def open_acmede(bank_url: str) -> None:
    await bank_admin.create_account(bank_url, **ACMEDE_AT_THE_BANK)


def tryton_invoice(supplier_id: str = "2700001", ref: str | None = None, **overrides: Any) -> Invoice:
    lines = [{"line_no": 1, "description": "Shelving", "net_amount": "600.00"},
             {"line_no": 2, "description": "Delivery", "net_amount": "400.00"}]
    return make_invoice(supplier_id=supplier_id, ref=ref or unique_ref("TRY"), company_code="2710",
                        due_date=(business_today() + timedelta(days=30)).isoformat(), lines=lines, **overrides)


async def tryton_invoices(erp: TrytonErp, supplier_id: str, reference: str) -> list[dict]:
    """Every invoice Tryton holds for this supplier and reference, drafts and cancelled ones too."""
    return await erp.rpc.search_read("account.invoice", [("party.code", "=", supplier_id),
                                                         ("reference", "=", reference)], ["number", "state"])


async def claims_of(erp: TrytonErp, invoice_number: str) -> list[dict]:
    """The run claims (draft payments) and any other payments Tryton holds on the invoice's payable line."""
    [invoice] = await erp.rpc.search_read("account.invoice", [("number", "=", invoice_number)], ["lines_to_pay"])
    return await erp.rpc.search_read("account.payment", [("line", "in", invoice["lines_to_pay"])],
                                     ["reference", "state"])
