"""Approvals (DESIGN invariant 8): an invoice not approved in the AP platform waits for
`approve` updates (two distinct approvers above the threshold, never the submitter), `reject`
ends it with nothing posted, an overdue approval opens a case; a payment run above its
`release_above` waits for a `release` by someone who approved none of its invoices."""

import asyncio

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from canonical.commands import ApprovalDecision, CancelInvoice, LifecyclePolicy
from canonical.invoice import Invoice
from canonical.payment_run import PaymentRunSummary
from identity.people import TREASURY_RELEASER
from tests import bank_admin, sap_admin
from tests.clock import business_today
from tests.helpers import assert_eventually, decision_input, invoice_json, new_worker, run_request, wait_for_status
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id

BIG = {"net_amount": "10000.00", "tax_amount": "1900.00", "gross_amount": "11900.00",
       "lines": [{"line_no": 1, "description": "Annual licence", "net_amount": "10000.00"}]}


def unapproved(**overrides) -> Invoice:
    return Invoice.model_validate(invoice_json(approved_by=None, submitted_by="ap.sam", **overrides))


async def start(client: Client, invoice: Invoice, task_queue: str, **kwargs):
    return await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id, task_queue=task_queue,
                                       **kwargs)


async def test_below_threshold_one_approval_proceeds_and_the_submitter_can_not_approve(client, sap_server, store):
    invoice = unapproved()
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        waiting = await wait_for_status(handle, "AWAITING_APPROVAL")
        assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []
        with pytest.raises(WorkflowUpdateFailedError) as by_submitter:
            await handle.execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="AP.Sam"))
        with pytest.raises(WorkflowUpdateFailedError):  # no identity
            await handle.execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="  "))
        await handle.execute_update(InvoiceToPayment.approve,
                                    ApprovalDecision(approver="ap.bob", note="matches the contract"))
        view = await wait_for_status(handle, "SCHEDULED")
        with pytest.raises(WorkflowUpdateFailedError):  # no longer awaiting approval
            await handle.execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="ap.carol"))
        await handle.terminate("test done")
    assert "submitted invoice" in by_submitter.value.cause.message
    assert waiting.approvers == [] and view.approvers == ["ap.bob"]
    statuses = [h.status.value for h in view.history]
    assert statuses.index("AWAITING_APPROVAL") < statuses.index("VALIDATED")


async def test_above_threshold_needs_two_distinct_approvers(client, sap_server, store):
    invoice = unapproved(**BIG)
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="ap.bob"))
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await handle.execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="AP.BOB"))
        await asyncio.sleep(0.5)
        still = await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="ap.carol"))
        view = await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    assert "already approved" in twice.value.cause.message
    assert still.approvers == ["ap.bob"] and view.approvers == ["ap.bob", "ap.carol"]


async def test_approved_in_the_ap_platform_skips_approval(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json(**BIG))  # approved_by="ap.approver"
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        view = await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    assert "AWAITING_APPROVAL" not in [h.status.value for h in view.history]
    assert view.approvers == ["ap.approver"]
    assert any("approved by ap.approver in the AP platform" in h.note for h in view.history)


async def test_reject_cancels_with_nothing_posted(client, sap_server, store):
    invoice = unapproved()
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        with pytest.raises(WorkflowUpdateFailedError):  # a rejection needs a reason
            await handle.execute_update(InvoiceToPayment.reject, ApprovalDecision(approver="ap.bob"))
        await handle.execute_update(InvoiceToPayment.reject,
                                    ApprovalDecision(approver="ap.bob", reason="not our order"))
        result = await handle.result()
    assert result.status.value == "CANCELLED"
    assert result.history[-1].note == "rejected by ap.bob: not our order"
    assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []


async def test_cancel_while_awaiting_approval(client, sap_server, store):
    invoice = unapproved()
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update(InvoiceToPayment.cancel,
                                    CancelInvoice(requested_by="ap.sam", reason="entered twice"))
        result = await handle.result()
    assert result.status.value == "CANCELLED"
    assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []


async def test_overdue_approval_opens_a_case_for_ap_and_keeps_waiting(client, sap_server, store):
    invoice = unapproved()
    policy = LifecyclePolicy(approval_sla_hours=1 / 3600, exception_sla_hours=2 / 3600)  # one and two seconds
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue, memo={POLICY_MEMO: policy})

        async def escalated():
            view = await wait_for_status(handle, "AWAITING_APPROVAL")
            assert view.open_exception is not None and view.open_exception.escalated, view.open_exception
            return view

        overdue = await assert_eventually(escalated, timeout=20)
        described = await handle.describe()
        await handle.execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="ap.bob"))
        view = await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    case = overdue.open_exception
    assert (case.type, case.owner.value) == ("ApprovalOverdue", "ap-remediation")
    assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) == "ApprovalOverdue"
    assert view.open_exception is None and view.closed_exceptions[0].type == "ApprovalOverdue"


@pytest.mark.clock_sensitive
async def test_payment_run_above_release_limit_waits_for_release_by_a_non_approver(client, sap_server, bank_server,
                                                                                   store, issuer):
    await bank_admin.reset(bank_server)
    by_platform = Invoice.model_validate(invoice_json())  # approved by ap.approver
    by_bob = unapproved()
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handles = [await start(client, inv, worker.task_queue) for inv in (by_platform, by_bob)]
        await wait_for_status(handles[1], "AWAITING_APPROVAL")
        await handles[1].execute_update(InvoiceToPayment.approve, ApprovalDecision(approver="ap.bob"))
        for handle in handles:
            await wait_for_status(handle, "SCHEDULED")
        request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME", run_date=business_today(),
                              horizon_days=60, release_above="2000.00", release_sla_hours=1 / 3600)
        run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                          task_queue=worker.task_queue)

        async def awaiting_release():
            described = await run.describe()
            assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) == "RunAwaitingRelease"
            assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) == "treasury-ops"
            return await run.query(PaymentRun.status)

        stage = await assert_eventually(awaiting_release, timeout=20)
        for approver in ("ap.bob", "AP.Approver"):  # approvers, even holding a releaser's token
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await run.execute_update("release", decision_input(issuer, run.id, "release", approver,
                                                                   roles=(TREASURY_RELEASER,)))
            assert "approved invoices in this run" in refused.value.cause.message
        with pytest.raises(WorkflowUpdateFailedError) as refused:  # a typed name is no identity
            await run.execute_update("release", {"released_by": "treasury.rita"})
        assert "signed decision token" in refused.value.cause.message
        await run.execute_update("release", decision_input(issuer, run.id, "release", "treasury.rita"))
        summary = await run.result()
        for handle in handles:  # no inbox reads the bank's answers: sent is where they stay
            await wait_for_status(handle, "SENT_TO_BANK")
        described = await run.describe()
        for handle in handles:
            await handle.terminate("test done")
    assert stage["stage"].startswith("awaiting release: 2380.00")
    assert isinstance(summary, PaymentRunSummary)
    assert summary.paid_invoices == 2 and summary.released_by == "treasury.rita"
    assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) is None


@pytest.mark.clock_sensitive
async def test_payment_run_within_release_limit_needs_no_release(client, sap_server, bank_server, store):
    await bank_admin.reset(bank_server)
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME", run_date=business_today(),
                              horizon_days=60, release_above="5000.00")
        summary = await client.execute_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                                task_queue=worker.task_queue)
        await handle.terminate("test done")
    assert summary.paid_invoices == 1 and summary.released_by is None
