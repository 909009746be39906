"""The lifecycle against the real dev server and real mock-sap: RECEIVED → SCHEDULED."""

import httpx
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from canonical.invoice import Invoice
from canonical.keys import normalise_reference
from tests.helpers import invoice_json, new_worker, wait_for_status
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment


async def sap_invoices(sap_url: str, supplier: str, ref: str) -> list[dict]:
    url = f"{sap_url}/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV/A_SupplierInvoice"
    flt = f"InvoicingParty eq '{supplier}' and SupplierInvoiceIDByInvcgParty eq '{normalise_reference(ref)}'"
    async with httpx.AsyncClient() as http:
        r = await http.get(url, params={"$filter": flt, "$format": "json"})
    r.raise_for_status()
    return r.json()["d"]["results"]


async def test_happy_path_reaches_scheduled(client: Client, sap_server: str, store) -> None:
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(
            InvoiceToPayment.run, invoice, id=invoice.workflow_id, task_queue=worker.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"{invoice.supplier_id} {invoice.gross_amount} {invoice.currency} "
                           f"due {invoice.net_due_date}",
        )
        view = await wait_for_status(handle, "SCHEDULED")
    statuses = [h.status.value for h in view.history]
    assert sorted(set(statuses), key=statuses.index) == ["RECEIVED", "VALIDATED", "POSTED", "SCHEDULED"]
    assert any("ERP answered POSTED" in h.note for h in view.history)
    assert view.erp_document is not None and view.open_exception is None
    rows = await sap_invoices(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)
    assert len(rows) == 1
    assert rows[0]["SupplierInvoice"] == view.erp_document.invoice_document
    assert rows[0]["InvoiceGrossAmount"] == "1190.00"
    outflow = store.get_outflow(invoice.key)
    assert outflow is not None and str(outflow.amount) == "1190.00" and outflow.value_date == invoice.net_due_date
    described = await handle.describe()
    attrs = described.typed_search_attributes
    assert attrs.get(sa.INVOICE_ID) == invoice.key
    assert attrs.get(sa.SUPPLIER_ID) == "1000013"
    assert attrs.get(sa.COMPANY_CODE) == "1710"
    assert attrs.get(sa.INVOICE_STATUS) == "SCHEDULED"
    assert await described.static_summary() == f"1000013 1190.00 EUR due {invoice.net_due_date}"
