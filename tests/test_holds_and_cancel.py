"""Exceptions are owned and resolved by people through updates; cancel withdraws cleanly."""


import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from canonical.commands import LifecyclePolicy, PaymentRunInclusion
from canonical.invoice import Invoice
from tests import sap_admin
from tests.clock import business_today
from tests.helpers import assert_eventually, decide, invoice_json, new_worker, wait_for_status
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment


async def test_hold_then_resolve_with_corrected_invoice(client: Client, sap_server, store, issuer):
    wrong = Invoice.model_validate(invoice_json(bank_account_id="0009"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, wrong, id=wrong.workflow_id,
                                             task_queue=worker.task_queue)
        held = await wait_for_status(handle, "ON_HOLD")
        assert held.open_exception.owner.value == "master-data"
        with pytest.raises(WorkflowUpdateFailedError):  # a correction must keep the business key
            other = Invoice.model_validate(invoice_json())
            await decide(handle, issuer, "resolve", "md.mia", resolution="x", corrected_invoice=other)
        corrected = wrong.model_copy(update={"bank_account_id": "0001"})
        case_id = await decide(handle, issuer, "resolve", "md.mia", resolution="invoice names account 0001",
                               corrected_invoice=corrected)
        await wait_for_status(handle, "AWAITING_APPROVAL")  # another payee: approved again (architecture inv. 8)
        await decide(handle, issuer, "approve", "ap.bob")
        view = await wait_for_status(handle, "SCHEDULED")
        described = await handle.describe()
        with pytest.raises(WorkflowUpdateFailedError):  # nothing left to resolve
            await decide(handle, issuer, "resolve", "md.mia", resolution="again")
        await handle.terminate("test done")
    assert case_id == held.open_exception.case_id
    assert view.open_exception is None
    [closed] = view.closed_exceptions
    assert closed.resolved_by == "md.mia" and closed.type == "MissingBankAccount"
    assert view.approvers == ["ap.bob"] and view.bank_account_id == "0001"
    assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) is None
    assert len(await sap_admin.invoices_in_erp(sap_server, wrong.supplier_id, wrong.supplier_invoice_ref)) == 1


async def test_unresolved_exception_escalates_after_its_sla(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json(supplier_id="9999998"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(
            InvoiceToPayment.run, invoice, id=invoice.workflow_id, task_queue=worker.task_queue,
            memo={POLICY_MEMO: LifecyclePolicy(exception_sla_hours=2 / 3600)},  # two seconds
        )

        async def escalated():
            view = await wait_for_status(handle, "ON_HOLD")
            assert view.open_exception.escalated and view.open_exception.severity.value == "high"
            return view

        view = await assert_eventually(escalated, timeout=15)
        await handle.terminate("test done")
    assert view.open_exception.sla_due_at > view.open_exception.opened_at


async def test_cancel_while_on_hold_posts_nothing(client, sap_server, store, issuer):
    invoice = Invoice.model_validate(invoice_json(currency="USD"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "ON_HOLD")
        await decide(handle, issuer, "cancel", "ap.alice", reason="sent in error")
        result = await handle.result()
    assert result.status.value == "CANCELLED"
    assert result.closed_exceptions[0].resolved_by == "ap.alice"
    assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []


async def test_cancel_after_posting_blocks_payment_in_erp_and_withdraws_outflow(client, sap_server, store, issuer):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        await decide(handle, issuer, "cancel", "ap.alice", reason="credit note agreed")
        result = await handle.result()
    assert result.status.value == "CANCELLED"
    doc = result.erp_document
    erp_invoice = await sap_admin.get_invoice(sap_server, doc.invoice_document, doc.fiscal_year)
    assert erp_invoice["PaymentBlockingReason"] == "R"
    assert store.get_outflow(invoice.key).state.value == "withdrawn"


async def test_reservation_by_a_payment_run_ends_cancellability(client, sap_server, store, issuer):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        inclusion = PaymentRunInclusion(payment_run_id="A11221", run_key="ACME-20261122-1",
                                        execution_date=business_today())
        first = await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion)
        again = await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion)  # a retried request
        with pytest.raises(WorkflowUpdateFailedError):  # one run at a time
            await handle.execute_update(InvoiceToPayment.reserve_for_payment_run,
                                        inclusion.model_copy(update={"run_key": "ACME-20261122-2"}))
        view = await wait_for_status(handle, "IN_PAYMENT_RUN")
        with pytest.raises(WorkflowUpdateFailedError):
            await decide(handle, issuer, "cancel", "ap.alice", reason="too late")
        await handle.terminate("test done")
    assert first == again
    assert first.instruction.end_to_end_id == f"{invoice.key}/1" and first.instruction.amount == invoice.gross_amount
    assert first.instruction.creditor_iban == "NL14MOCK0000000002"
    assert view.payment_run_id == "A11221"
    assert [a.end_to_end_id for a in view.payment_attempts] == [f"{invoice.key}/1"]


async def test_held_invoice_refuses_a_payment_run(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json(currency="USD"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "ON_HOLD")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, PaymentRunInclusion(
                payment_run_id="A11221", run_key="ACME-20261122-1", execution_date=business_today()))
        await handle.terminate("test done")
    assert "ON_HOLD, not payable" in refused.value.cause.message
