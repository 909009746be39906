"""Company code 2710, booked in Tryton, through the real workflows: the dev server, a Tryton
server of its own (conftest `fresh_tryton`), mock-bank with 2710's paying account ACMEDE, and
mock-sap (the worker's other ERP, which these invoices never reach). Posted once under a
duplicate start and a lost answer, paid in a run from ACMEDE, cleared in Tryton from ACMEDE's
statement; a return reopens the invoice in Tryton and holds it for AP's remediation, as on SAP;
two suppliers' equal references and amounts are each cleared by their own payment."""

import pytest
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from canonical.commands import LifecyclePolicy
from tests import bank_admin, sap_admin
from tests.helpers import activities_scheduled, decide, new_worker, path, unique_ref, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.tryton_flow import LoseAnswer, claims_of, tryton_erps, tryton_invoice, tryton_invoices
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment

pytestmark = [pytest.mark.clock_sensitive, pytest.mark.usefixtures("acmede_bank")]

START = dict(id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL)
SETTLE = {POLICY_MEMO: LifecyclePolicy(erp_settle_seconds=2)}  # look again soon after the lost answer


async def test_a_tryton_invoice_is_posted_once_paid_and_cleared_from_the_statement(
        client, sap_server, bank_server, fresh_tryton, store):
    invoice = tryton_invoice("2700001")
    lossy = LoseAnswer("model.account.invoice.post")  # Tryton posts it; the worker never hears so
    async with tryton_erps(fresh_tryton, lossy) as erps, \
            new_worker(client, sap_server, store, bank_url=bank_server, erps=erps) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue, memo=SETTLE, **START)
        with pytest.raises(WorkflowAlreadyStartedError):
            await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                        task_queue=worker.task_queue, memo=SETTLE, **START)
        scheduled = await wait_for_status(handle, "SCHEDULED", timeout=40)
        async with bank_inbox(client, worker.task_queue):
            summary = await pay(client, worker.task_queue, account="ACMEDE")
            assert summary.paid_invoices == 1 and str(summary.total) == "1190.00", summary
            claimed = await claims_of(erps["tryton"], scheduled.erp_document.invoice_document)
            view = await advance_until(handle, "COMPLETED", bank_server)
        reads = await activities_scheduled(handle, "read_open_item")
        books = await tryton_invoices(erps["tryton"], invoice.supplier_id, invoice.supplier_invoice_ref)
        claims_after = await claims_of(erps["tryton"], scheduled.erp_document.invoice_document)
    assert lossy.lost == 1
    notes = [h.note for h in scheduled.history]
    assert any("no answer" in n for n in notes) and any("ALREADY_POSTED" in n for n in notes), notes
    doc = view.erp_document
    assert doc.erp == "tryton" and doc.invoice_document.startswith("SI2710-"), doc
    assert books == [{"id": books[0]["id"], "number": doc.invoice_document, "state": "paid"}], books  # once, cleared
    assert [(c["reference"], c["state"]) for c in claimed] == [(summary.payment_run_id, "draft")], claimed
    assert claims_after == []  # the statement's clearing released the run's claim, as SAP does
    assert not await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)
    states = path(view)
    assert states[states.index("SCHEDULED"):] == [
        "SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"], states
    # Cleared from Tryton's own answer to the statement post, as on SAP: no read of its own.
    [cleared] = [h for h in view.history if h.status.value == "CLEARED"]
    assert reads == 0 and "from the statement post" in cleared.note, cleared
    [attempt] = view.payment_attempts
    [booked] = await bank_admin.payments_for(bank_server, attempt.end_to_end_id)
    assert (booked["amount"], booked["currency"], booked["account_id"]) == (119000, "EUR", "ACMEDE"), booked
    [position] = [p for p in store.cash_positions("2710") if p.actual_outflow]
    assert str(position.actual_outflow) == "1190.00"


async def test_a_returned_tryton_payment_reopens_the_invoice_for_remediation_and_pays_again_once(
        client, sap_server, bank_server, fresh_tryton, store, issuer):
    await bank_admin.set_account(bank_server, "ACMEDE", behaviour="return-later",
                                 parameters={"days": 1, "reason": "MD07"})
    invoice = tryton_invoice("2700002")
    async with tryton_erps(fresh_tryton) as erps, \
            new_worker(client, sap_server, store, bank_url=bank_server, erps=erps) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue, account="ACMEDE")
            held = await advance_until(handle, "AWAITING_REMEDIATION", bank_server)
            reopened = await erps["tryton"].open_item(held.erp_document, "2710")
            books_held = await tryton_invoices(erps["tryton"], invoice.supplier_id, invoice.supplier_invoice_ref)
            await bank_admin.set_account(bank_server, "ACMEDE", behaviour="accept")
            await decide(handle, issuer, "resolve", "ap.alice", resolution="supplier confirmed account")
            await wait_for_status(handle, "SCHEDULED")
            second = await pay(client, worker.task_queue, run_number=2, account="ACMEDE")
            assert second.paid_invoices == 1, second
            view = await advance_until(handle, "COMPLETED", bank_server, max_days=6)
        books = await tryton_invoices(erps["tryton"], invoice.supplier_id, invoice.supplier_invoice_ref)
    assert held.payment_attempts[0].outcome == "returned" and held.payment_attempts[0].reason_code == "MD07"
    assert path(held)[-5:] == ["ACCEPTED", "SETTLED", "RETURNED", "REOPENED", "AWAITING_REMEDIATION"], path(held)
    assert held.open_exception.owner.value == "ap-remediation", held.open_exception
    # Tryton's books show the return: the invoice open again, its clearing taken back.
    assert [b["state"] for b in books_held] == ["posted"], books_held
    assert reopened is not None and reopened.clearing_is_reversed and not reopened.is_cleared, reopened
    assert [b["state"] for b in books] == ["paid"], books
    first, retry = view.payment_attempts
    assert (first.outcome, retry.outcome) == ("returned", "settled")
    [returned] = await bank_admin.payments_for(bank_server, first.end_to_end_id)
    [paid] = await bank_admin.payments_for(bank_server, retry.end_to_end_id)
    assert returned["returned_at"] and not paid.get("returned_at"), (returned, paid)


async def test_two_suppliers_equal_reference_and_amount_each_cleared_by_its_own_payment(
        client, sap_server, bank_server, fresh_tryton, store):
    # Tryton clears by our own document (the payment register's, by EndToEndId), so unlike SAP
    # (one twin claimed at a time) both go in one run, and neither can clear the other.
    reference = unique_ref("TWT")
    invoices = [tryton_invoice(supplier, reference) for supplier in ("2700001", "2700002")]
    async with tryton_erps(fresh_tryton) as erps, \
            new_worker(client, sap_server, store, bank_url=bank_server, erps=erps) as worker:
        handles = [await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                               task_queue=worker.task_queue) for invoice in invoices]
        for handle in handles:
            await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            summary = await pay(client, worker.task_queue, account="ACMEDE")
            assert summary.paid_invoices == 2 and not summary.refused, summary
            views = [await advance_until(handle, "COMPLETED", bank_server) for handle in handles]
        lines = {view.erp_document.invoice_document: await erps["tryton"].rpc.search_read(
            "account.statement.line", [("description", "like", f"% {view.erp_document.invoice_document} %")],
            ["description", "statement.state"]) for view in views}
    assert len({view.erp_document.invoice_document for view in views}) == 2
    for view in views:
        [attempt] = view.payment_attempts
        assert attempt.outcome == "settled", attempt
        assert len(await bank_admin.payments_for(bank_server, attempt.end_to_end_id)) == 1  # paid once
        # One statement line cleared it (posted), and it is the line of this invoice's own payment.
        [line] = lines[view.erp_document.invoice_document]
        assert line["description"].startswith("payment ") and line["description"].endswith(attempt.end_to_end_id), line
