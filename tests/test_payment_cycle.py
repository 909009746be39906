"""From SCHEDULED to COMPLETED against the real mock-bank and mock-sap: a payment run, the
bank's answers through the inbox, settlement, the statement cleared in the ERP (the lifecycle
cleared from the statement post's answer, without reading its item; without that answer it
reads); and a rejection remediated into a second attempt without a second payment."""

import asyncio
import json
import subprocess

import pytest

from canonical.commands import LifecyclePolicy
from canonical.erp import StatementClearing
from canonical.invoice import Invoice
from cli.processes import BIN
from tests import bank_admin, clock, sap_admin
from tests.helpers import (
    activities_scheduled,
    assert_eventually,
    decide,
    invoice_json,
    new_worker,
    path,
    wait_for_history,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment

pytestmark = pytest.mark.clock_sensitive


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def test_invoice_is_paid_settled_and_cleared(client, sap_server, bank_server, store):
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            summary = await pay(client, worker.task_queue)
            assert summary.paid_invoices == 1 and str(summary.total) == "1190.00", summary
            # Reached, not waited in: booked on receipt, the lifecycle passes straight through.
            await wait_for_history(handle, "ACCEPTED")
            await advance_until(handle, "SETTLED", bank_server)
            view = await advance_until(handle, "COMPLETED", bank_server)
    states = path(view)
    assert states[states.index("SCHEDULED"):] == [
        "SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"], states
    [attempt] = view.payment_attempts
    assert attempt.outcome == "settled" and attempt.message_id == summary.message_ids[0]
    doc = view.erp_document
    erp = await sap_admin.get_invoice(sap_server, doc.invoice_document, doc.fiscal_year)
    assert erp["PaymentRunID"] == ""  # SAP released the claim on clearing
    assert len(await bank_admin.payments_for(bank_server, attempt.end_to_end_id)) == 1
    [position] = [p for p in store.cash_positions("1710") if p.actual_outflow]
    assert str(position.actual_outflow) == "1190.00"
    # Cleared from the ERP's answer to the statement post: no read right after settlement (the
    # statement was not posted yet), none after the hint (it carried the ERP's clearing document).
    assert await activities_scheduled(handle, "read_open_item") == 0
    [cleared] = [h for h in view.history if h.status.value == "CLEARED"]
    assert "from the statement post" in cleared.note and cleared.note.startswith("ERP clearing document 0"), cleared


async def test_a_hint_without_the_erps_answer_still_reads_and_clears(client, sap_server, bank_server, store):
    """An older statement post or reconciliation sends statement_posted bare, a post whose ERP
    said "not cleared" (or named another payment) sends no clearing: the lifecycle reads its
    item, and only the ERP's read clears it."""
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue,  # its own look is 1000 h away
                                             memo={POLICY_MEMO: LifecyclePolicy(clearing_check_hours=1000)})
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue)
            view = await advance_until(handle, "SETTLED", bank_server)
        # The inbox is gone: no statement reaches the ERP. An answer that does not clear this
        # payment (another EndToEndId, or not cleared) is no verdict: the lifecycle reads, finds it open.
        doc, e2e = view.erp_document, view.payment_attempts[0].end_to_end_id
        for clearing in (StatementClearing(accounting_document=doc.accounting_document, end_to_end_id="OTHER/1",
                                           cleared=True, clearing_document="0100000001"),
                         StatementClearing(accounting_document=doc.accounting_document, end_to_end_id=e2e)):
            reads = await activities_scheduled(handle, "read_open_item")
            await handle.signal(InvoiceToPayment.statement_posted, clearing)
            await assert_eventually(lambda n=reads: _read_more_than(handle, n), timeout=15)
        await wait_for_status(handle, "SETTLED")  # still waiting: nothing cleared it
        await sap_admin.clear_by_hand(sap_server, doc)
        await handle.signal(InvoiceToPayment.statement_posted)  # bare, as reconciliation sends it
        done = await wait_for_status(handle, "COMPLETED")
    assert await activities_scheduled(handle, "read_open_item") == 3
    [cleared] = [h for h in done.history if h.status.value == "CLEARED"]
    assert "0199999999" in cleared.note and "statement post" not in cleared.note, cleared


async def _read_more_than(handle, reads: int) -> None:
    assert await activities_scheduled(handle, "read_open_item") > reads


async def test_closed_account_rejection_is_remediated_and_paid_once(client, sap_server, bank_server, store,
                                                                    temporal_address, issuer):
    # INITECH's account at the bank is closed: AC04. AP gets its new account from the supplier.
    await sap_admin.add_bank_account_if_missing(sap_server, "1000014", "0002", "DE89370400440532013000", "COBADEFFXXX")
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000014"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue)
            held = await wait_for_status(handle, "AWAITING_REMEDIATION")
            assert held.open_exception.owner.value == "ap-remediation"
            assert "AC04 account closed" in held.open_exception.reason
            # What AP reads in a terminal, as the README writes it: plain JSON, no codec, no flags.
            query = [str(BIN / "temporal"), "workflow", "query", "--workflow-id", invoice.workflow_id, "--name",
                     "status"]
            shown = await asyncio.to_thread(subprocess.run, [*query, "--address", temporal_address],
                                            capture_output=True, text=True, timeout=60)
            await decide(handle, issuer, "resolve", "md.mia", resolution="supplier confirmed new account",
                         bank_account_id="0002")
            await wait_for_status(handle, "AWAITING_APPROVAL")  # another payee: approved again (invariant 8)
            await decide(handle, issuer, "approve", "ap.bob")
            await wait_for_status(handle, "SCHEDULED")
            second = await pay(client, worker.task_queue, run_number=2)
            assert second.paid_invoices == 1, second
            view = await advance_until(handle, "COMPLETED", bank_server)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout[shown.stdout.index("{"):])
    assert (status["status"], status["open_exception"]["reason"]) == ("AWAITING_REMEDIATION",
                                                                      held.open_exception.reason)
    assert status["payment_attempts"][0]["reason"] == "AC04 account closed", status
    first, retry = view.payment_attempts
    assert (first.outcome, first.reason_code, first.reason) == ("rejected", "AC04", "AC04 account closed")
    assert retry.outcome == "settled" and retry.end_to_end_id != first.end_to_end_id
    paid = [p for e2e in (first.end_to_end_id, retry.end_to_end_id)
            for p in await bank_admin.payments_for(bank_server, e2e)]
    booked = [p for p in paid if str(p.get("outcome", p.get("status", ""))).lower() not in ("rejected", "rjct")]
    assert len(booked) == 1, paid


async def test_answers_read_together_reach_the_lifecycle_as_one_signal(client, sap_server, bank_server, store):
    """With lifecycle_bank_status_lists, the pain.002 ACCP and the camt.054 booking read in one
    inbox batch are one bank_statuses signal, applied in order: ACCEPTED, then SETTLED. Under a
    clock where the bank books on a later day, the two answers come in two batches: two signals."""
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank_server,
                          settings_fields={"lifecycle_bank_status_lists": True}) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        # Paid before the inbox runs: its first batch holds both answers (booked inside the POST).
        summary = await pay(client, worker.task_queue)
        assert summary.paid_invoices == 1, summary
        async with bank_inbox(client, worker.task_queue):
            view = await advance_until(handle, "COMPLETED", bank_server)
    states = path(view)
    assert states[states.index("SCHEDULED"):] == [
        "SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"], states
    signals = [e.workflow_execution_signaled_event_attributes.signal_name for e in (await handle.fetch_history()).events
               if e.HasField("workflow_execution_signaled_event_attributes")]
    if clock.profile().books_on_receipt:
        assert signals.count("bank_statuses") == 1 and "bank_status" not in signals, signals
    else:  # answers of different days are never held back to be sent together
        assert signals.count("bank_status") == 2 and "bank_statuses" not in signals, signals
