"""SapRunClaims against a real mock-sap: a chunk of invoices claimed through three `$batch`
requests with the single claim's rules, nothing written again for a repeated chunk, refusals
per invoice, and this run's claims released (another run's kept)."""

from datetime import date

import httpx
import pytest

from adapters.sap_payments import SapPayments
from adapters.sap_run_claims import SapRunClaims
from tests.adapters.test_sap_payments import post_invoice

RUN_DATE = date(2026, 10, 5)


@pytest.fixture
async def control(sap_url):
    async with httpx.AsyncClient(base_url=sap_url, headers={"Connection": "close"}) as c:
        yield c


async def requests_since(control: httpx.AsyncClient, last: int) -> list[dict]:
    rows = (await control.get("/_mock/requests", params={"limit": 200, "verbose": 1})).json()["results"]
    return [r for r in rows if r["id"] > last]


async def last_request(control: httpx.AsyncClient) -> int:
    return (await control.get("/_mock/requests", params={"limit": 1})).json()["results"][0]["id"]


async def test_a_chunk_is_claimed_in_three_requests_and_a_repeat_writes_nothing(sap, control):
    docs = [(await post_invoice(sap)).erp_document for _ in range(5)]
    claims, single = SapRunClaims(sap), SapPayments(sap)
    await sap.set_payment_block(docs[1], "R")
    await single.claim_for_payment_run(docs[2], "OTHER", RUN_DATE)
    missing = docs[3].model_copy(update={"invoice_document": "5199999999"})
    chunk = [docs[0], docs[1], docs[2], missing, docs[4]]

    before = await last_request(control)
    outcome = await claims.claim(chunk, "RUN1", RUN_DATE)
    sent = await requests_since(control, before)

    assert outcome[docs[0].invoice_document] is None and outcome[docs[4].invoice_document] is None
    assert "payment block R" in outcome[docs[1].invoice_document]
    assert "already in payment run OTHER" in outcome[docs[2].invoice_document]
    assert "does not exist" in outcome["5199999999"]
    batches = [r for r in sent if r["path"].endswith("$batch")]
    assert len(batches) == 3 and all(r["status"] == 202 for r in batches)
    patched = [line for r in batches for line in r["body"].splitlines() if line.startswith("PATCH ")]
    assert sorted(patched) == sorted(f"PATCH A_SupplierInvoice(SupplierInvoice='{d.invoice_document}',"
                                     f"FiscalYear='{d.fiscal_year}') HTTP/1.1" for d in (docs[0], docs[4]))
    for doc in (docs[0], docs[4]):
        item = await single.open_item(doc, "1710")
        assert (item.payment_run_id, item.payment_run_date) == ("RUN1", RUN_DATE)

    before = await last_request(control)
    again = await claims.claim(chunk, "RUN1", RUN_DATE)  # a retried chunk
    assert again == outcome
    assert not [line for r in await requests_since(control, before) for line in (r["body"] or "").splitlines()
                if line.startswith("PATCH ")]

    assert await claims.release(chunk, "RUN1") == 2  # OTHER's claim on docs[2] stays
    assert (await single.open_item(docs[0], "1710")).payment_run_id == ""
    assert (await single.open_item(docs[2], "1710")).payment_run_id == "OTHER"
    assert await claims.release(chunk, "RUN1") == 0


async def test_a_refused_invoice_gives_back_this_runs_claim(sap):
    doc = (await post_invoice(sap)).erp_document
    single = SapPayments(sap)
    await single.claim_for_payment_run(doc, "RUN2", RUN_DATE)
    await sap.set_payment_block(doc, "R")  # blocked after the run claimed it
    outcome = await SapRunClaims(sap).claim([doc], "RUN2", RUN_DATE)
    assert "payment block" in outcome[doc.invoice_document]
    assert (await single.open_item(doc, "1710")).payment_run_id == ""
