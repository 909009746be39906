"""Corrections through `resolve` (architecture invariant 8), against the real dev server and
mock-sap: a change of amount or payee after approval needs approval again; a corrected amount
after posting is refused; switching the payee account is master data's; the verified submitter
never approves nor corrects her own invoice."""

from datetime import UTC, datetime

import pytest
from temporalio.client import WorkflowUpdateFailedError

from canonical.invoice import Invoice
from tests import sap_admin
from tests.helpers import decision_input, invoice_json, new_worker, unique_ref, wait_for_history, wait_for_status
from tests.test_continue_as_new import refusing_the_first_outflow
from workflows.invoice_lifecycle import InvoiceToPayment

BLOCKED = "1000015"
NINE_THOUSAND = {"net_amount": "9000.00", "tax_amount": "0.00", "gross_amount": "9000.00",
                 "lines": [{"line_no": 1, "description": "Pumps", "net_amount": "9000.00"}]}
NINE_HUNDRED_THOUSAND = {"net_amount": "900000.00", "tax_amount": "0.00", "gross_amount": "900000.00",
                         "lines": [{"line_no": 1, "description": "Pumps", "net_amount": "900000.00"}]}


async def refused(handle, update: str, body: dict) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, body)
    return err.value.cause.message


async def start(client, invoice: Invoice, task_queue: str):
    return await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id, task_queue=task_queue)


async def test_a_corrected_amount_after_approval_goes_back_to_awaiting_approval(client, sap_server, store, issuer):
    ref = unique_ref()
    body = invoice_json(supplier_id=BLOCKED, ref=ref, approved_by=None, **NINE_THOUSAND)
    wf = Invoice.model_validate(body).workflow_id
    invoice = Invoice.model_validate({**body, "submission": issuer.issue("ap.carol", workflow_id=wf,
                                                                         decision="submit", now=datetime.now(UTC))})
    corrected = Invoice.model_validate(invoice_json(supplier_id=BLOCKED, ref=ref, approved_by=None,
                                                    **NINE_HUNDRED_THOUSAND)).model_dump(mode="json")
    await sap_admin.set_supplier_blocked(sap_server, BLOCKED, True)
    try:
        async with new_worker(client, sap_server, store) as worker:
            handle = await start(client, invoice, worker.task_queue)
            first = await wait_for_status(handle, "AWAITING_APPROVAL")
            own = await refused(handle, "approve", decision_input(issuer, wf, "approve", "ap.carol"))
            await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.bob"))
            await wait_for_status(handle, "ON_HOLD")  # SupplierBlocked, after approval
            await sap_admin.set_supplier_blocked(sap_server, BLOCKED, False)
            own_fix = await refused(handle, "resolve", decision_input(
                issuer, wf, "resolve", "ap.carol", resolution="typo", corrected_invoice=corrected))
            await handle.execute_update("resolve", decision_input(
                issuer, wf, "resolve", "ap.alice", resolution="the order was for 100 pumps",
                corrected_invoice=corrected))
            again = await wait_for_status(handle, "AWAITING_APPROVAL")
            await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.bob"))
            short = await wait_for_status(handle, "AWAITING_APPROVAL")
            await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.dave"))
            view = await wait_for_status(handle, "SCHEDULED")
            await handle.terminate("test done")
    finally:
        await sap_admin.set_supplier_blocked(sap_server, BLOCKED, False)
    assert first.submitted_by == "ap.carol" and "ap.carol submitted invoice" in own
    assert "ap.carol submitted invoice" in own_fix and "can not correct it" in own_fix
    assert again.gross_amount == 900000 and again.approvers == []
    assert any("approved for 9000.00 EUR to account (default), corrected to 900000.00 EUR" in h.note
               for h in again.history)
    assert "needs 2 approvers" in again.approval_needed and "covering 900000.00 EUR" in again.approval_needed
    assert short.approvers == ["ap.bob"]
    assert view.approvers == ["ap.bob", "ap.dave"]
    assert [d.action for d in view.decisions] == ["submit", "approve", "resolve", "approve", "approve"]
    fix = view.decisions[2]
    assert (fix.who, fix.before, fix.after) == ("ap.alice", "9000.00 EUR to account (default)",
                                                "900000.00 EUR to account (default)")
    erp = await sap_admin.invoices_in_erp(sap_server, BLOCKED, ref)
    assert len(erp) == 1


async def test_a_corrected_amount_after_posting_is_refused(client, sap_server, store, issuer):
    invoice = Invoice.model_validate(invoice_json())  # approved in the AP platform
    wf = invoice.workflow_id
    bigger = invoice_json(ref=invoice.supplier_invoice_ref, net_amount="2000.00", tax_amount="380.00",
                          gross_amount="2380.00", lines=[{"line_no": 1, "description": "x", "net_amount": "2000.00"}])
    async with new_worker(client, sap_server, store, replace=[refusing_the_first_outflow(store)]) as worker:
        handle = await start(client, invoice, worker.task_queue)
        held = await wait_for_status(handle, "ON_HOLD")  # treasury refused the outflow: after POSTED
        amount = await refused(handle, "resolve", decision_input(
            issuer, wf, "resolve", "ap.alice", resolution="more", corrected_invoice=bigger))
        payee = await refused(handle, "resolve", decision_input(
            issuer, wf, "resolve", "ap.alice", resolution="other account", bank_account_id="0002"))
        await handle.execute_update("resolve", decision_input(issuer, wf, "resolve", "ap.alice",
                                                              resolution="cash pool reopened"))
        view = await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    assert held.erp_document is not None
    assert "a corrected amount after posting is refused" in amount and "must agree" in amount
    assert "master data's" in payee and "it needs master-data" in payee
    assert view.gross_amount == invoice.gross_amount and view.approvers == ["ap.approver"]


async def test_switching_the_payee_account_is_master_datas_and_needs_approval_again(
        client, sap_server, store, issuer):
    invoice = Invoice.model_validate(invoice_json(bank_account_id="0009"))  # signed for 0009; the ERP has none
    wf = invoice.workflow_id
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "ON_HOLD")
        clerk = await refused(handle, "resolve", decision_input(issuer, wf, "resolve", "ap.alice",
                                                                resolution="pay 0001", bank_account_id="0001"))
        await handle.execute_update("resolve", decision_input(issuer, wf, "resolve", "md.mia",
                                                              resolution="pay 0001", bank_account_id="0001"))
        again = await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.bob"))
        view = await wait_for_history(handle, "VALIDATED")
        await handle.terminate("test done")
    assert "it needs master-data" in clerk
    assert again.bank_account_id == "0001" and again.approvers == []
    assert view.approvers == ["ap.bob"] and view.bank_account_id == "0001"
