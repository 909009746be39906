"""Exactly one ERP invoice per business key: duplicate starts, a 503 on the POST, and a POST
that lands after the client gave up (mock-sap's `slow` scenario)."""

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from canonical.commands import LifecyclePolicy
from canonical.invoice import Invoice
from tests import sap_admin
from tests.helpers import invoice_json, new_worker, wait_for_status
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment

START = dict(id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL)


async def test_duplicate_start_is_refused_and_posts_once(client: Client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue, **START)
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                        task_queue=worker.task_queue, **START)
        # The same invoice written differently (case, spaces) is the same business key.
        respelled = invoice.model_copy(
            update={"supplier_invoice_ref": invoice.supplier_invoice_ref.lower().replace("-", "- ")})
        assert respelled.workflow_id == invoice.workflow_id
        same = await client.start_workflow(
            InvoiceToPayment.run, respelled, id=respelled.workflow_id, task_queue=worker.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        assert same.result_run_id == handle.result_run_id
        await wait_for_status(handle, "SCHEDULED")
    assert len(await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)) == 1


async def test_erp_503_on_post_is_retried_and_posts_once(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json())
    await sap_admin.add_fault(sap_server, {"match": "A_SupplierInvoice$", "method": "POST", "status": 503,
                                           "message": "No dialog work process available", "count": 1})
    try:
        async with new_worker(client, sap_server, store) as worker:
            handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                 task_queue=worker.task_queue)
            await wait_for_status(handle, "SCHEDULED", timeout=30)
    finally:
        await sap_admin.clear_faults(sap_server)
    history = await handle.fetch_history()
    failed = [e for e in history.events if e.HasField("activity_task_started_event_attributes")
              and e.activity_task_started_event_attributes.attempt > 1]
    assert failed, "the 503 should have cost one retried attempt"
    assert len(await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)) == 1


async def test_post_that_lands_after_the_timeout_is_not_posted_again(client, sap_server, store):
    """The client gives up after 1 s; SAP posts 3 s later. The lifecycle waits, looks, finds it."""
    invoice = Invoice.model_validate(invoice_json())
    await sap_admin.add_fault(sap_server, {"match": "A_SupplierInvoice$", "method": "POST", "scenario": "slow",
                                           "count": 1})
    try:
        async with new_worker(client, sap_server, store, sap_timeout=1.0) as worker:
            handle = await client.start_workflow(
                InvoiceToPayment.run, invoice, id=invoice.workflow_id, task_queue=worker.task_queue,
                memo={POLICY_MEMO: LifecyclePolicy(erp_settle_seconds=5)},
            )
            view = await wait_for_status(handle, "SCHEDULED", timeout=40)
    finally:
        await sap_admin.clear_faults(sap_server)
    notes = [h.note for h in view.history]
    assert any("no answer" in n for n in notes) and any("ALREADY_POSTED" in n for n in notes), notes
    rows = await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)
    assert len(rows) == 1 and rows[0]["SupplierInvoice"] == view.erp_document.invoice_document


async def test_same_reference_with_other_amount_is_a_conflict_not_a_second_post(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        first = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                            task_queue=worker.task_queue)
        await wait_for_status(first, "SCHEDULED")
        await first.terminate("simulate a lifecycle that ended")  # a later one for the same key
        changed = Invoice.model_validate(invoice_json(ref=invoice.supplier_invoice_ref, tax_amount="200.00",
                                                      gross_amount="1200.00"))
        second = await client.start_workflow(InvoiceToPayment.run, changed, id=changed.workflow_id,
                                             task_queue=worker.task_queue)
        view = await wait_for_status(second, "ON_HOLD")
        await second.terminate("test done")
    assert view.open_exception.type == "DuplicateReferenceConflict"
    assert "1190.00" in view.open_exception.reason and "1200.00" in view.open_exception.reason
    assert len(await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)) == 1


async def test_workflow_id_not_from_business_key_fails_fast(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        with pytest.raises(WorkflowFailureError) as failure:
            await client.execute_workflow(InvoiceToPayment.run, invoice, id=f"my-own-id-{invoice.key}",
                                          task_queue=worker.task_queue)
    assert failure.value.cause.type == "WorkflowIdMismatch"
    assert invoice.workflow_id in failure.value.cause.message
    assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []
