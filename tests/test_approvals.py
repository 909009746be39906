"""Approvals (architecture invariant 8): an invoice not approved in the AP platform waits for
`approve` updates carrying signed decision tokens (two distinct approvers above the threshold of
the worker's controls, one whose role's limit covers the gross, never the verified submitter),
`reject` ends it with nothing posted, an overdue approval opens a case; a payment run above its
`release_above` waits for a `release` by someone who approved none of its invoices. Forged,
expired, misbound, reused and role-less tokens are refused; the start memo changes no control."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from canonical.commands import LifecyclePolicy
from canonical.invoice import Invoice
from canonical.payment_run import PaymentRunSummary
from identity.dev_issuer import ephemeral_dev_issuer
from identity.people import TREASURY_RELEASER
from tests import bank_admin, sap_admin
from tests.clock import business_today
from tests.helpers import (
    assert_eventually,
    decision_input,
    invoice_json,
    new_worker,
    platform_approval,
    run_request,
    wait_for_history,
    wait_for_status,
)
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id

BIG = {"net_amount": "10000.00", "tax_amount": "1900.00", "gross_amount": "11900.00",
       "lines": [{"line_no": 1, "description": "Annual licence", "net_amount": "10000.00"}]}
HUGE = {"net_amount": "98765432.10", "tax_amount": "0.00", "gross_amount": "98765432.10",
        "lines": [{"line_no": 1, "description": "Plant", "net_amount": "98765432.10"}]}


def unapproved(**overrides) -> Invoice:
    return Invoice.model_validate(invoice_json(approved_by=None, submitted_by="ap.sam", **overrides))


async def start(client: Client, invoice: Invoice, task_queue: str, **kwargs):
    return await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id, task_queue=task_queue,
                                       **kwargs)


async def refused(handle, update: str, body: dict) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, body)
    return err.value.cause.message


async def test_below_threshold_one_approval_proceeds_and_a_typed_submitter_is_only_shown(
        client, sap_server, store, issuer):
    invoice = unapproved()
    wf = invoice.workflow_id
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        waiting = await wait_for_status(handle, "AWAITING_APPROVAL")
        assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []
        typed = await refused(handle, "approve", {"approver": "ap.bob"})  # a name without a token
        await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.bob",
                                                              note="matches the contract"))
        view = await wait_for_status(handle, "SCHEDULED")
        late = await refused(handle, "approve", decision_input(issuer, wf, "approve", "ap.carol"))
        await handle.terminate("test done")
    assert "approve needs a signed decision token" in typed and "python -m cli decision approve" in typed
    assert "not awaiting approval" in late
    assert waiting.approvers == [] and view.approvers == ["ap.bob"]
    assert waiting.submitted_by == "ap.sam (unverified)" and "needs 1 approver" in waiting.approval_needed
    approval = next(d for d in view.decisions if d.action == "approve")
    assert approval.who == "ap.bob" and approval.verified_by.startswith("jwt:finsync-dev-issuer#")
    assert any(h.note.startswith("approval 1 of 1 by ap.bob: matches the contract, verified jwt:")
               for h in view.history)
    statuses = [h.status.value for h in view.history]
    assert statuses.index("AWAITING_APPROVAL") < statuses.index("VALIDATED")


async def test_forged_expired_misbound_reused_and_role_less_tokens_are_refused(client, sap_server, store, issuer):
    invoice = unapproved(**BIG)
    wf, now = invoice.workflow_id, datetime.now(UTC)
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        forged = await refused(handle, "approve", decision_input(ephemeral_dev_issuer(), wf, "approve", "ap.dave"))
        expired = await refused(handle, "approve", decision_input(issuer, wf, "approve", "ap.bob",
                                                                  now=now - timedelta(minutes=11)))
        elsewhere = await refused(handle, "approve", decision_input(issuer, "invoice-1710-1000013-OTHER", "approve",
                                                                    "ap.bob"))
        other_decision = await refused(handle, "approve", decision_input(issuer, wf, "cancel", "ap.bob"))
        clerk = await refused(handle, "approve", decision_input(issuer, wf, "approve", "ap.alice"))
        bob = decision_input(issuer, wf, "approve", "ap.bob")
        await handle.execute_update("approve", bob)
        reused = await refused(handle, "approve", bob)
        # "ap.bob2": a second token whose subject is ap.bob is ap.bob again; one without the role counts for nothing
        bob_again = await refused(handle, "approve", decision_input(issuer, wf, "approve", "ap.bob"))
        no_role = await refused(handle, "approve", decision_input(issuer, wf, "approve", "ap.bob2", roles=()))
        still = await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.carol"))
        view = await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    assert "not one this worker trusts" in forged
    assert "expired" in expired
    assert "not 'invoice-1710-1000013-" in elsewhere or "is for 'invoice-1710-1000013-OTHER'" in elsewhere
    assert "is for 'cancel', not 'approve'" in other_decision
    assert "needs one of the roles ap-approver, ap-senior-approver" in clerk
    assert "already used" in reused
    assert "ap.bob already approved" in bob_again
    assert "ap.bob2 may not approve" in no_role
    assert still.approvers == ["ap.bob"] and view.approvers == ["ap.bob", "ap.carol"]


async def test_a_start_memo_can_not_raise_the_second_approval_threshold(client, sap_server, store, issuer):
    invoice = unapproved(**BIG)
    memo = {POLICY_MEMO: LifecyclePolicy(second_approval_above=Decimal("1000000"))}
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue, memo=memo)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update("approve", decision_input(issuer, invoice.workflow_id, "approve", "ap.bob"))
        await asyncio.sleep(0.5)
        still = await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.terminate("test done")
    assert still.approvers == ["ap.bob"] and "needs 2 approvers (above 10000" in still.approval_needed
    assert any("second_approval_above (1000000) is ignored" in h.note for h in still.history)


async def test_a_huge_invoice_needs_an_approver_whose_limit_covers_it(client, sap_server, store, issuer):
    invoice = unapproved(**HUGE)
    wf = invoice.workflow_id
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        for approver in ("ap.bob", "ap.carol"):  # ap-approvers: limit 50,000 each
            await handle.execute_update("approve", decision_input(issuer, wf, "approve", approver))
        await asyncio.sleep(0.5)
        short = await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.dave"))  # senior: no limit
        view = await wait_for_history(handle, "VALIDATED")
        await handle.terminate("test done")
    assert short.approvers == ["ap.bob", "ap.carol"]
    assert "one with an approval limit covering 98765432.10 EUR" in short.approval_needed
    assert view.approvers == ["ap.bob", "ap.carol", "ap.dave"]


async def test_approved_in_the_ap_platform_skips_approval_only_when_signed_and_trusted(
        client, sap_server, store, issuer):
    small = Invoice.model_validate(invoice_json())  # approved_by="ap.approver", signed for its figures
    typed = Invoice.model_validate(invoice_json(signed=False))  # the same name, unsigned
    body = invoice_json(approved_by=None, **BIG)
    signed_for_less = platform_approval(body, "ap.approver", gross_amount="11.90")
    other = Invoice.model_validate({**body, "approved_by": "ap.approver", "ap_platform_approval": signed_for_less})
    big = Invoice.model_validate(invoice_json(**BIG))  # signed, above ap_platform_trusted_up_to (10,000)
    async with new_worker(client, sap_server, store) as worker:
        handles = [await start(client, inv, worker.task_queue) for inv in (small, typed, other, big)]
        passed = await wait_for_status(handles[0], "SCHEDULED")
        waiting = [await wait_for_status(h, "AWAITING_APPROVAL") for h in handles[1:]]
        await handles[3].execute_update("approve", decision_input(issuer, big.workflow_id, "approve", "ap.bob"))
        both = await wait_for_status(handles[3], "SCHEDULED")
        for handle in handles:
            await handle.terminate("test done")
    assert "AWAITING_APPROVAL" not in [h.status.value for h in passed.history]
    assert passed.approvers == ["ap.approver"]
    assert passed.decisions[0].verified_by.startswith("ap-platform:finsync-dev-ap-platform#")
    assert any("approved by ap.approver in the AP platform, verified ap-platform:" in h.note for h in passed.history)
    assert any("not signed by the AP platform" in h.note for h in waiting[0].history)
    assert any("is for 11.90 EUR, not 11900.00 EUR" in h.note for h in waiting[1].history)
    assert waiting[0].approvers == waiting[1].approvers == []
    assert waiting[2].approvers == ["ap.approver"] and any("finsync's own approver is needed" in h.note
                                                           for h in waiting[2].history)
    assert both.approvers == ["ap.approver", "ap.bob"]


async def test_reject_cancels_with_nothing_posted(client, sap_server, store, issuer):
    invoice = unapproved()
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        no_reason = await refused(handle, "reject", decision_input(issuer, invoice.workflow_id, "reject", "ap.bob"))
        await handle.execute_update("reject", decision_input(issuer, invoice.workflow_id, "reject", "ap.bob",
                                                             reason="not our order"))
        result = await handle.result()
    assert "needs a reason" in no_reason
    assert result.status.value == "CANCELLED"
    assert result.history[-1].note == "rejected by ap.bob: not our order"
    assert [d.action for d in result.decisions] == ["reject"]
    assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []


async def test_cancel_while_awaiting_approval(client, sap_server, store, issuer):
    invoice = unapproved()
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, invoice, worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        typed = await refused(handle, "cancel", {"requested_by": "ap.sam", "reason": "entered twice"})
        await handle.execute_update("cancel", decision_input(issuer, invoice.workflow_id, "cancel", "ap.alice",
                                                             reason="entered twice"))
        result = await handle.result()
    assert "cancel needs a signed decision token" in typed
    assert result.status.value == "CANCELLED" and result.history[-1].note.startswith("by ap.alice, verified jwt:")
    assert await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref) == []


async def test_overdue_approval_opens_a_case_for_ap_and_keeps_waiting(client, sap_server, store, issuer):
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
        await handle.execute_update("approve", decision_input(issuer, invoice.workflow_id, "approve", "ap.bob"))
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
        await handles[1].execute_update("approve", decision_input(issuer, by_bob.workflow_id, "approve", "ap.bob"))
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
