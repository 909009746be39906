"""The benchmarks' invoices: how they are made and their lifecycles started, and what mock-sap
holds of them afterwards (read through its request log and OData)."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_invoices.py: a helper of the bench scripts, nothing to measure")
    sys.exit(0)

from datetime import UTC, date, datetime

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from canonical.invoice import Invoice
from identity import ap_platform
from identity.ap_platform import PlatformSigner, ephemeral_platform
from tests.clock import profile
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.lifecycle_start import start_options

# The bench's AP platform: its invoices arrive approved and signed, as the real platform signs
# them (architecture invariant 8); the in-process bench workers trust its key.
BENCH_PLATFORM = ephemeral_platform()
ap_platform.install(BENCH_PLATFORM.keyring())

SI_PATH = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV/A_SupplierInvoice"
ITEMS_PATH = "/sap/opu/odata/sap/API_OPLACCTGDOCITEMCUBE_SRV/A_OperationalAcctgDocItemCube"


def make_invoice(ref: str, supplier_id: str, signer: PlatformSigner | None = None,
                 invoice_date: date | None = None) -> Invoice:
    """Approved in the AP platform, signed by `signer` (a worker process of its own trusts the
    stack's development platform, identity/ap_platform.py) or the bench's own; dated
    `invoice_date` (default: the mocks' day), due 30 days later."""
    unsigned = Invoice.model_validate({
        "company_code": "1710",
        "supplier_id": supplier_id,
        "supplier_invoice_ref": ref,
        "invoice_date": (invoice_date or profile().business_date).isoformat(),  # the mocks' day (bench/_stack.py)
        "currency": "EUR",
        "net_amount": "1000.00",
        "tax_amount": "190.00",
        "gross_amount": "1190.00",
        "payment_terms": {"code": "NT30", "net_days": 30},  # due in 30 days: no timer fires
        "lines": [
            {"line_no": 1, "description": "Consulting", "net_amount": "600.00", "quantity": "6",
             "unit_price": "100.00"},
            {"line_no": 2, "description": "Travel", "net_amount": "400.00"},
        ],
        "approved_by": "ap.approver",
    })
    approval = (signer or BENCH_PLATFORM).sign(
        workflow_id=unsigned.workflow_id, gross_amount=unsigned.gross_amount, currency=unsigned.currency,
        bank_account_id=unsigned.bank_account_id, approver="ap.approver", now=datetime.now(UTC))
    return unsigned.model_copy(update={"ap_platform_approval": approval})


async def start_lifecycle(client: Client, inv: Invoice, task_queue: str, memo: dict | None = None,
                          **extra) -> WorkflowHandle:
    """InvoiceToPayment for `inv`, started as the CLI starts it (a duplicate id is refused),
    with what the lifecycle would show first (workflows/lifecycle_start.py)."""
    return await client.start_workflow(
        InvoiceToPayment.run, inv, id=inv.workflow_id, task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        **start_options(inv, **(memo or {})), **extra,
    )


def sap_http(sap_url: str, timeout: float = 60) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sap_url, headers={"sap-client": "100", "Accept": "application/json"},
                             timeout=timeout)


async def sap_post_count(sap_url: str) -> tuple[int, int, int]:
    """(POST A_SupplierInvoice answered 201, other POSTs to it, all logged SAP requests)."""
    async with httpx.AsyncClient(base_url=sap_url, timeout=30) as http:
        rows = (await http.get("/_mock/requests", params={"limit": 10_000_000})).raise_for_status().json()["results"]
    posts = [r for r in rows if r["method"] == "POST" and r["path"] == SI_PATH]
    created = sum(1 for r in posts if r["status"] == 201)
    return created, len(posts) - created, len(rows)


async def sap_our_invoices(sap_url: str, prefix: str, *fields: str, timeout: float = 60) -> list[dict]:
    """This run's supplier invoices (references starting with `prefix`): their reference
    (SupplierInvoiceIDByInvcgParty) and `fields`."""
    async with sap_http(sap_url, timeout) as http:
        r = await http.get(SI_PATH, params={
            "$filter": f"startswith(SupplierInvoiceIDByInvcgParty,'{prefix}')",
            "$select": ",".join(("SupplierInvoiceIDByInvcgParty", *fields)), "$top": "100000", "$format": "json"})
    r.raise_for_status()
    return r.json()["d"]["results"]


async def sap_cleared_items(sap_url: str) -> list[dict]:
    """Supplier items cleared by another document (a payment), all of them."""
    async with sap_http(sap_url) as http:
        r = await http.get(ITEMS_PATH, params={
            "$filter": "ClearingAccountingDocument ne '' and AccountingDocumentItemType eq 'K' "
                       "and AccountingDocument ne ClearingAccountingDocument",
            "$select": "AccountingDocument,ClearingAccountingDocument,ClearingDate,PaymentRunID",
            "$inlinecount": "allpages", "$top": "100000", "$format": "json"})
    r.raise_for_status()
    return r.json()["d"]["results"]
