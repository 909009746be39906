"""Release before commitment: a run above `release_above` waits for its release holding nothing
(no paying-account lock, no reservation, no ERP claim), so another run of the same account
pays meanwhile; neither the run's requester nor an approver of its invoices may release it (an
invoice its releaser approved leaves the run); once released it pays what is still payable,
dated the day it was released."""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError

from activities.sealed import unseal
from adapters.payment_registers import PaymentRegisters
from adapters.payment_run_store import RELEASED, SELECTED, SENT, PaymentRunStore
from adapters.treasury_store import OutflowRow
from canonical.invoice import Invoice
from identity.people import TREASURY_RELEASER
from tests import bank_admin
from tests.clock import business_today
from tests.helpers import (
    assert_eventually,
    decision_input,
    invoice_json,
    new_worker,
    run_request,
    wait_for_status,
)
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id, run_identity

# What is checked is what reached the bank (accepted, once per invoice), with no bank inbox
# running: the bank's calendar changes nothing here.
pytestmark = pytest.mark.clock_independent


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def test_a_run_awaiting_release_commits_nothing_and_another_run_pays_meanwhile(client, sap_server, bank_server,
                                                                                     store, issuer):
    registers, runs = PaymentRegisters(store.engine), PaymentRunStore(store.engine)
    due_soon = [Invoice.model_validate(invoice_json()) for _ in range(2)]  # NT30
    due_later = Invoice.model_validate(invoice_json(payment_terms={"code": "NT45", "net_days": 45}))
    # Dated yesterday (real time: a release is dated by the workflow's clock), released today:
    # it pays today, not on its run date.
    waiting_request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME",
                                  run_date=date.today() - timedelta(days=1), horizon_days=60, release_above="100.00")
    waiting_key, _ = run_identity(waiting_request)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handles = [await client.start_workflow(InvoiceToPayment.run, i, id=i.workflow_id, task_queue=worker.task_queue)
                   for i in (*due_soon, due_later)]
        for handle in handles:
            await wait_for_status(handle, "SCHEDULED")
        waiting = await client.start_workflow(PaymentRun.run, waiting_request, id=payment_run_workflow_id("ACME"),
                                              task_queue=worker.task_queue)

        async def awaiting_release():
            stage = (await waiting.query(PaymentRun.status))["stage"]
            assert stage == "awaiting release: 3570.00 EUR above 100.00", stage

        await assert_eventually(awaiting_release)
        refusals = {}
        for who in ("Treasury.Tom", "ap.approver"):  # each with a releaser's token: still refused
            release = decision_input(issuer, waiting.id, "release", who, roles=(TREASURY_RELEASER,))
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await waiting.execute_update("release", release)
            refusals[who] = refused.value.cause.message
        held_while_waiting = (registers.lock_holder("ACME"), runs.counts(waiting_key))

        # Meanwhile the next run of the same account takes the invoices due soon.
        other = await client.execute_workflow(PaymentRun.run, run_request(
            payment_run_workflow_id("ACME") + "-2", paying_account_id="ACME", run_date=business_today(),
            horizon_days=35, run_number=2), id=payment_run_workflow_id("ACME") + "-2", task_queue=worker.task_queue)
        still = ((await waiting.query(PaymentRun.status))["stage"], runs.counts(waiting_key))

        await waiting.execute_update("release", decision_input(issuer, waiting.id, "release", "treasury.rita"))
        released = await waiting.result()
        views = [await wait_for_status(h, "SENT_TO_BANK") for h in handles]
        for handle in handles:
            await handle.terminate("test done")
        [kept_file] = runs.files(waiting_key)
        xml = (await unseal(client.data_converter.payload_codec, kept_file.sealed_xml)).decode()

    assert "requested this run" in refusals["Treasury.Tom"] and "approved invoices" in refusals["ap.approver"]
    assert held_while_waiting == (None, {SELECTED: 3})  # no lock, nothing reserved
    assert other.paid_invoices == 2 and other.selected == 2, other
    assert still == ("awaiting release: 3570.00 EUR above 100.00", {SELECTED: 3})
    assert released.paid_invoices == 1 and released.not_taken == 2 and released.released_by == "treasury.rita", released
    assert sorted(released.refused) == sorted(i.key for i in due_soon)
    assert all("already in payment run" in why or "not payable" in why for why in released.refused.values())
    assert released.execution_date == date.today() and runs.counts(waiting_key)[SENT] == 1
    assert re.search(r"<ReqdExctnDt><Dt>(\d{4}-\d{2}-\d{2})</Dt>", xml).group(1) == date.today().isoformat()
    for view in views:  # one booked payment per invoice, at the bank's own record
        [attempt] = view.payment_attempts
        assert len(await bank_admin.payments_for(bank_server, attempt.end_to_end_id)) == 1
    assert registers.lock_holder("ACME") is None


async def test_an_invoice_the_releaser_approved_leaves_the_run_even_when_the_store_did_not_know(
        client, sap_server, bank_server, store, issuer):
    """An outflow registered before approvers were recorded names none, so the release is not
    refused; the lifecycle's own answer names its approver, and the run gives the invoice back."""
    invoice = Invoice.model_validate(invoice_json())  # approved by ap.approver in the AP platform
    request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME", run_date=business_today(),
                          horizon_days=60, run_number=4, release_above="100.00")
    run_key, _ = run_identity(request)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        with Session(store.engine) as session:  # as a store from before approvers were recorded
            session.execute(update(OutflowRow).where(OutflowRow.invoice_key == invoice.key).values(approvers=None))
            session.commit()
        run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                          task_queue=worker.task_queue)

        async def awaiting_release():
            stage = (await run.query(PaymentRun.status))["stage"]
            assert stage.startswith("awaiting release"), await run.query("status")

        await assert_eventually(awaiting_release)
        await run.execute_update("release", decision_input(issuer, run.id, "release", "AP.Approver",
                                                           roles=(TREASURY_RELEASER,)))
        summary = await run.result()
        view = await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    assert summary.paid_invoices == 0 and summary.not_taken == 1 and summary.message_ids == [], summary
    assert "segregation of duties" in summary.refused[invoice.key]
    assert PaymentRunStore(store.engine).counts(run_key) == {RELEASED: 1}
    [attempt] = view.payment_attempts
    assert attempt.outcome == "released" and await bank_admin.payments_for(bank_server, attempt.end_to_end_id) == []
