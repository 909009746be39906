"""Thousands of supplier invoices into a mock-sap in CI time: OData `$batch` changesets of 100
POSTs (~370 invoices/s, guides/mock-sap.md §10) with the worker's own invoice body."""

import httpx

from adapters.odata_batch import BatchRequest, decode_batch, encode_batch
from adapters.sap import invoice_body
from adapters.sap_odata import SUPPLIER_INVOICE_SRV, to_posted_invoice
from canonical.erp import PostedInvoice
from canonical.invoice import Invoice


async def post_invoices(sap_url: str, invoices: list[Invoice], per_changeset: int = 100) -> list[PostedInvoice]:
    posted: list[PostedInvoice] = []
    async with httpx.AsyncClient(base_url=sap_url, headers={"Connection": "close"}, timeout=120) as http:
        token = (await http.get(f"{SUPPLIER_INVOICE_SRV}/", headers={"X-CSRF-Token": "Fetch"})).headers["x-csrf-token"]
        for start in range(0, len(invoices), per_changeset):
            chunk = invoices[start:start + per_changeset]
            content_type, body = encode_batch(
                [], [BatchRequest("POST", "A_SupplierInvoice", invoice_body(i)) for i in chunk])
            response = await http.post(f"{SUPPLIER_INVOICE_SRV}/$batch", content=body,
                                       headers={"X-CSRF-Token": token, "Content-Type": content_type})
            response.raise_for_status()
            [answers] = decode_batch(response.headers["content-type"], response.content)
            assert len(answers) == len(chunk) and all(a.status == 201 for a in answers), answers[0].body[:300]
            posted += [to_posted_invoice(a.json()["d"]) for a in answers]
    return posted


async def count_claimed(sap_url: str, payment_run_id: str) -> int:
    async with httpx.AsyncClient(base_url=sap_url, headers={"Connection": "close"}, timeout=60) as http:
        response = await http.get(f"{SUPPLIER_INVOICE_SRV}/A_SupplierInvoice", params={
            "$filter": f"PaymentRunID eq '{payment_run_id}'", "$top": "1", "$inlinecount": "allpages",
            "$format": "json"})
    response.raise_for_status()
    return int(response.json()["d"]["__count"])
