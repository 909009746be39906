"""InvoiceToPayment continues as new at its long waits (workflows/continuation.py), on a real dev
server told to suggest it early (`limit.historyCount.suggestContinueAsNew`), with mock-sap,
mock-einvoice and mock-bank: held ON_HOLD under a flood of signals, then resolved with one
ERP post and each supplier answer once; SCHEDULED, then paid by a run to COMPLETED; awaiting
a second approval, which the first approver still can not give. The status query answers the
same before and after, the new run keeps the id, memo and search attributes, and the snapshot
(it carries the supplier's IBAN) is encrypted in history."""

from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.treasury import TreasuryActivities
from canonical.commands import LifecyclePolicy, PaymentSent
from canonical.invoice import Invoice
from canonical.treasury import ExpectedOutflow, OutflowState
from codec.bank_details import ENCODING
from reports.status_report import collect
from tests import bank_admin, sap_admin
from tests.continuation_helpers import (  # noqa: F401 (fixtures)
    can_client,
    can_env,
    continue_as_new_inputs,
    flood_until_continued,
    runs,
    scheduled_activities,
    start,
    status,
    waited_at,
)
from tests.helpers import (
    assert_eventually,
    decide,
    invoice_json,
    new_worker,
    path,
    platform_approval,
    wait_for_history,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.test_supplier_answers import codes, lifecycle_for
from tests.test_supplier_responses import mock_url, sent_invoice  # noqa: F401 (fixture)
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment


def refusing_the_first_outflow(store):
    """Treasury refuses the first registration (a named business error): ON_HOLD after POSTED."""
    real, calls = TreasuryActivities(store), []

    @activity.defn(name="register_expected_outflow")
    async def register_expected_outflow(outflow: ExpectedOutflow) -> ExpectedOutflow:
        calls.append(outflow.invoice_key)
        if len(calls) == 1:
            raise ApplicationError("treasury refused the outflow: cash pool closed", type="TreasuryRefused",
                                   non_retryable=True)
        return await real.register_expected_outflow(outflow)

    return register_expected_outflow


# -- tests -----------------------------------------------------------------------------------

async def test_held_lifecycle_continues_under_a_flood_and_resumes_its_case(
        can_client, sap_server, store, mock_url, issuer):  # noqa: F811
    client = can_client
    number = await sent_invoice(mock_url)
    invoice, receipt = lifecycle_for(number)
    invoice = invoice.model_copy(update={"approved_by": "ap.approver", "ap_platform_approval": platform_approval(
        invoice.model_dump(mode="json"), "ap.approver")})
    refusing = refusing_the_first_outflow(store)
    async with new_worker(client, sap_server, store, einvoice_url=mock_url, replace=[refusing]) as worker:
        handle = await start(client, worker, invoice, memo={POLICY_MEMO: LifecyclePolicy(exception_sla_hours=72)},
                             start_signal="einvoice_received", start_signal_args=[receipt])
        await wait_for_status(handle, "ON_HOLD")
        await codes(mock_url, number, ["AB", "AP"])

        async def answered():
            view = await status(handle)
            assert len([h for h in view.history if h.note.startswith("supplier told")]) == 2, view.history
            return view

        held = await assert_eventually(answered)  # nothing in flight any more: it may continue as new
        before = await client.get_workflow_handle(invoice.workflow_id).describe()

        async def hints_and_the_same_document():
            await handle.signal(InvoiceToPayment.statement_posted)
            await handle.signal(InvoiceToPayment.einvoice_received, receipt)  # pushed again: one receipt

        flooded = await flood_until_continued(client, handle, hints_and_the_same_document, times=2)
        after = await status(handle)
        described = await client.get_workflow_handle(invoice.workflow_id).describe()
        await decide(handle, issuer, "resolve", "treasury.tom", resolution="cash pool reopened")
        view = await wait_for_status(handle, "SCHEDULED")
        chain = await runs(client, handle)
        await handle.terminate("test done")

    assert after == held  # the same answer from the new run: case, SLA, history, receipts
    assert set(await waited_at(client, flooded)) == {"OUTFLOW/step-hold"}
    assert held.open_exception.type == "TreasuryRefused" and not held.open_exception.escalated
    assert described.run_id != before.run_id and described.id == before.id
    assert described.typed_search_attributes == before.typed_search_attributes
    assert await described.memo_value(POLICY_MEMO, type_hint=LifecyclePolicy) == LifecyclePolicy(exception_sla_hours=72)
    # Resolved once, the same case; the step ran again; nothing else did.
    assert path(view) == ["RECEIVED", "VALIDATED", "POSTED", "ON_HOLD", "POSTED", "SCHEDULED"], path(view)
    [closed] = view.closed_exceptions
    assert (closed.case_id, closed.resolved_by) == (held.open_exception.case_id, "treasury.tom")
    assert len(await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)) == 1
    assert scheduled_activities(chain, "post_supplier_invoice") == 1
    assert scheduled_activities(chain, "register_expected_outflow") == 2  # refused, then after the resolution
    assert scheduled_activities(chain, "send_invoice_response") == 2
    await codes(mock_url, number, ["AB", "AP"])
    assert [r.sha256 for r in view.einvoice_receipts] == [receipt.sha256]
    # The snapshot names the supplier's IBAN (the validated invoice): the codec encrypted it.
    invoice_payload, snapshot_payload = continue_as_new_inputs(chain[0])
    assert snapshot_payload.metadata["encoding"] == ENCODING and b"iban" not in snapshot_payload.data
    assert invoice_payload.metadata["encoding"] == b"json/plain"


@pytest.mark.clock_sensitive
async def test_scheduled_lifecycle_continues_then_is_paid_to_completed(can_client, sap_server, bank_server, store):  # noqa: F811
    client = can_client
    await bank_admin.reset(bank_server)
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await start(client, worker, invoice)
        scheduled = await wait_for_status(handle, "SCHEDULED")
        await flood_until_continued(client, handle, lambda: handle.signal(InvoiceToPayment.statement_posted))
        assert await status(handle) == scheduled
        async with bank_inbox(client, worker.task_queue):
            summary = await pay(client, worker.task_queue)
            assert summary.paid_invoices == 1, summary
            await advance_until(handle, "SETTLED", bank_server)
            # Settled, it waits for the ERP to clear it from the day's statement (the bank's next day).
            await wait_for_status(handle, "SETTLED")
            elsewhere = PaymentSent(run_key="OTHER-RUN", message_id="M-OTHER", end_to_end_id="not-this-invoice")
            await flood_until_continued(client, handle, lambda: handle.signal(
                InvoiceToPayment.released_from_payment_run, elsewhere))  # another run's news: nothing to do
            view = await advance_until(handle, "COMPLETED", bank_server)
        chain = await runs(client, handle)
    waits = await waited_at(client, chain)
    assert waits[0] == "PAYMENT/reservation" and "PAYMENT/clearing" in waits, waits
    states = path(view)
    assert states[states.index("SCHEDULED"):] == [
        "SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"], states
    [attempt] = view.payment_attempts
    assert attempt.outcome == "settled" and len(await bank_admin.payments_for(bank_server, attempt.end_to_end_id)) == 1
    assert scheduled_activities(chain, "post_supplier_invoice") == 1
    # Expected; the actual is the bank inbox's, as it read the settlement (activities/bank_inbox.py).
    assert scheduled_activities(chain, "register_expected_outflow") == 1
    assert store.get_outflow(invoice.key).state == OutflowState.ACTUAL


async def test_awaiting_approval_continues_and_keeps_the_first_approval(can_client, sap_server, store,  # noqa: F811
                                                                        issuer):
    client = can_client
    invoice = Invoice.model_validate(invoice_json(
        approved_by=None, submitted_by="ap.sam", net_amount="10000.00", tax_amount="1900.00", gross_amount="11900.00",
        lines=[{"line_no": 1, "description": "Annual licence", "net_amount": "10000.00"}]))
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, worker, invoice)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await decide(handle, issuer, "approve", "ap.bob")
        once = await status(handle)
        chain = await flood_until_continued(client, handle, lambda: handle.signal(InvoiceToPayment.statement_posted))
        assert await status(handle) == once
        assert set(await waited_at(client, chain)) == {"APPROVAL/approval"}

        async def one_invoice_in_the_report():  # its runs before are not invoices of their own
            report = await collect(client, store, extra_query=f"WorkflowId='{invoice.workflow_id}'")
            assert [(s.state, s.count) for s in report.states] == [("AWAITING_APPROVAL", 1)], report.states

        await assert_eventually(one_invoice_in_the_report)
        with pytest.raises(WorkflowUpdateFailedError) as twice:
            await decide(handle, issuer, "approve", "ap.bob")
        await decide(handle, issuer, "approve", "ap.carol")
        view = await wait_for_history(handle, "SCHEDULED")
        await handle.terminate("test done")
    assert "already approved" in twice.value.cause.message
    assert view.approvers == ["ap.bob", "ap.carol"]
    assert path(view)[:3] == ["RECEIVED", "AWAITING_APPROVAL", "VALIDATED"], path(view)
    assert len(await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)) == 1


# -- timers after a continue-as-new, over real days (time-skipping test server) ---------------
# The test server has no dynamic config: the policy's own bound on events makes it continue.

async def flood_and_count(client: Client, handle: WorkflowHandle) -> list[WorkflowHistory]:
    return await flood_until_continued(client, handle, lambda: handle.signal(InvoiceToPayment.statement_posted))


async def test_case_escalates_on_its_own_sla_after_continuing_time_skipping(skipping_env, sap_server, store):
    """Held for 40 h, continued, then escalated at 48 h (not 48 h after the new run began)."""
    client = skipping_env.client
    invoice = Invoice.model_validate(invoice_json(supplier_id="9999997"))  # unknown to the ERP: held
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, worker, invoice, memo={POLICY_MEMO: LifecyclePolicy(continue_after_events=60)})
        held = await wait_for_status(handle, "ON_HOLD")
        await skipping_env.sleep(timedelta(hours=40))
        chain = await flood_and_count(client, handle)
        await skipping_env.sleep(timedelta(hours=7))
        still = await status(handle)
        await skipping_env.sleep(timedelta(hours=2))
        once = await status(handle)
        shown = (await handle.describe()).typed_search_attributes
        await handle.terminate("test done")
    assert await waited_at(client, chain) == ["VALIDATION/step-hold"]
    # The continued run's escalation reaches visibility: the reports count it without asking.
    case = once.open_exception
    assert (shown.get(sa.CASE_ESCALATED), shown.get(sa.CASE_SEVERITY), shown.get(sa.CASE_DUE_AT),
            shown.get(sa.CASE_OPENED_AT)) == (True, "high", case.sla_due_at, held.open_exception.opened_at)
    assert still.open_exception == held.open_exception and not still.open_exception.escalated
    assert once.open_exception.case_id == held.open_exception.case_id and once.open_exception.escalated
    assert once.open_exception.severity.value == "high"
    assert timedelta(hours=49) <= once.open_exception.sla_due_at - held.open_exception.opened_at < timedelta(hours=97)


async def test_approval_sla_runs_on_after_continuing_time_skipping(skipping_env, sap_server, store):
    """Awaiting approval for 20 h, continued: ApprovalOverdue opens at 24 h, as it would have."""
    client = skipping_env.client
    invoice = Invoice.model_validate(invoice_json(approved_by=None, submitted_by="ap.sam"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, worker, invoice, memo={POLICY_MEMO: LifecyclePolicy(continue_after_events=40)})
        waiting = await wait_for_status(handle, "AWAITING_APPROVAL")
        await skipping_env.sleep(timedelta(hours=20))
        chain = await flood_and_count(client, handle)
        await skipping_env.sleep(timedelta(hours=3))
        before_sla = await status(handle)
        await skipping_env.sleep(timedelta(hours=2))
        overdue = await status(handle)
        await handle.terminate("test done")
    assert await waited_at(client, chain) == ["APPROVAL/approval"]
    assert before_sla.open_exception is None
    entered = waiting.history[-1].at
    assert overdue.open_exception.type == "ApprovalOverdue"
    assert timedelta(hours=24) <= overdue.open_exception.opened_at - entered < timedelta(hours=25)
