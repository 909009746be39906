"""The worker's read-through cache of supplier master data against the real mock-sap and dev
server: lifecycles of one supplier within the TTL read it from SAP once (counted in mock-sap's
request log), and a bank change the vendor master sync sees makes the next invoice read SAP
again and validate against the new account. Servers-free checks: tests/test_master_data_cache.py."""

import asyncio
import random
import uuid
from datetime import timedelta
from urllib.parse import unquote

import httpx

from canonical.vendors import VendorSyncRequest, mask
from tests import sap_admin
from tests.helpers import make_invoice, new_worker, wait_for_status
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.vendor_master_sync import VendorMasterSync


def fresh_iban() -> str:
    return sap_admin.iban_with_valid_checksum("NL", f"MOCK{random.randrange(10**10):010d}")


async def fresh_supplier(sap_url: str, iban: str) -> str:
    supplier_id = f"7{random.randrange(10**6):06d}"
    await sap_admin.create_supplier(sap_url, supplier_id, f"Cache test {supplier_id}")
    await sap_admin.add_bank_account(sap_url, supplier_id, "0001", iban, "MOCKNL2A")
    return supplier_id


async def supplier_reads(sap_url: str, supplier_id: str) -> int:
    """GETs of this business partner (the validation's supplier read) in mock-sap's request log."""
    async with httpx.AsyncClient(base_url=sap_url, timeout=60) as http:
        rows = (await http.get("/_mock/requests", params={"limit": 1_000_000})).json()["results"]
    return sum(1 for r in rows if r["method"] == "GET" and f"A_BusinessPartner('{supplier_id}')" in unquote(r["path"]))


async def scheduled(client, worker, supplier_id: str, count: int = 1) -> list:
    invoices = [make_invoice(supplier_id=supplier_id) for _ in range(count)]
    handles = [await client.start_workflow(InvoiceToPayment.run, i, id=i.workflow_id, task_queue=worker.task_queue)
               for i in invoices]
    return [(h, await wait_for_status(h, "SCHEDULED", timeout=60)) for h in handles]


async def sync(client, worker) -> None:
    await client.execute_workflow(VendorMasterSync.run, VendorSyncRequest(), id=f"vendor-sync-{uuid.uuid4().hex[:8]}",
                                  task_queue=worker.task_queue, execution_timeout=timedelta(minutes=1))


async def test_invoices_of_one_supplier_read_its_master_data_once_within_the_ttl(client, sap_server, store):
    supplier = await fresh_supplier(sap_server, fresh_iban())
    async with new_worker(client, sap_server, store) as worker:
        invoices = [make_invoice(supplier_id=supplier) for _ in range(6)]
        handles = await asyncio.gather(*(client.start_workflow(InvoiceToPayment.run, i, id=i.workflow_id,
                                                               task_queue=worker.task_queue) for i in invoices))
        views = await asyncio.gather(*(wait_for_status(h, "SCHEDULED", timeout=60) for h in handles))
        for h in handles:
            await h.terminate("test over")
    assert len(views) == 6
    assert await supplier_reads(sap_server, supplier) == 1


async def test_a_bank_change_the_vendor_sync_sees_makes_the_next_invoice_read_sap_again(client, sap_server, store):
    old, new = fresh_iban(), fresh_iban()
    supplier = await fresh_supplier(sap_server, old)
    async with new_worker(client, sap_server, store) as worker:
        await sync(client, worker)  # the vendor store holds the supplier's account as it is now
        before = await scheduled(client, worker, supplier, 2)
        reads_before = await supplier_reads(sap_server, supplier)
        await sap_admin._write(sap_server, "PATCH", f"{sap_admin.BP}/A_BusinessPartnerBank(BusinessPartner="
                                                    f"'{supplier}',BankIdentification='0001')", {"IBAN": new})
        await sync(client, worker)  # sees the change: drops the supplier from this worker's cache
        [(after, view)] = await scheduled(client, worker, supplier)
        reads_after = await supplier_reads(sap_server, supplier)
        for h, _ in [*before, (after, view)]:
            await h.terminate("test over")
    assert reads_before == 1
    assert reads_after == 2
    validated = [h.note for h in view.history if h.status == "VALIDATED" and "pays to" in h.note]
    assert validated == [f"supplier Cache test {supplier}, pays to 0001 {mask(new)}"]
