"""Outages retry, they don't end things (architecture invariant 12), against the real
mock-sap: an ERP down after the money left opens an outage case on the statement post that
closes itself; an ERP maintenance window while invoices post leaves no ticket for AP.
The outage SLA is shortened for the test by replacing the ERP counterpart's settings
(the worker runs workflows unsandboxed, so they read the workflows.activity_options the test
patches)."""

import asyncio
import dataclasses
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

import workflows.activity_options as opts
from canonical.erp import PostedInvoice
from canonical.invoice import Invoice
from canonical.status import ErpDocument
from canonical.validation import PostingOutcome, PostingResult
from tests import bank_admin, sap_admin
from tests.evidence_helpers import bank_date
from tests.helpers import assert_eventually, invoice_json, new_worker, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import InvoiceToPayment

FAST_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=1))
SAP_TIMEOUT = 3.0  # the worker's HTTP timeout in these tests: attempts (5 s) outlast it, rounds (6 s) outlast those


def short_erp(retry: RetryPolicy = FAST_RETRY) -> opts.Counterpart:
    return dataclasses.replace(opts.ERP, start_to_close=timedelta(seconds=5), outage_sla=timedelta(seconds=6),
                               settle_after_timeout=timedelta(seconds=5), retry=retry)


@pytest.fixture
def short_erp_outage_sla(monkeypatch):
    monkeypatch.setattr(opts, "ERP", short_erp())


@pytest.fixture
async def sap_faults(sap_server):
    try:
        yield sap_server
    finally:
        await sap_admin.clear_faults(sap_server)


@pytest.mark.clock_sensitive
async def test_erp_down_after_settlement_opens_an_outage_case_that_closes_itself(
        client, sap_faults, bank_server, store, short_erp_outage_sla, monkeypatch):
    """After the money left, the ERP is read by the statement post (the lifecycle clears from its
    answer, README "Clearing from the statement post"): its outage case opens on the StatementPost,
    owned by integration-ops, closes itself when the ERP answers again, and the lifecycle completes."""
    monkeypatch.setattr(opts, "ERP_STATEMENT", dataclasses.replace(
        opts.ERP_STATEMENT, start_to_close=timedelta(seconds=5), outage_sla=timedelta(seconds=6), retry=FAST_RETRY))
    await bank_admin.reset(bank_server)
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000016"))
    async with new_worker(client, sap_faults, store, bank_url=bank_server, sap_timeout=SAP_TIMEOUT) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        posts = f'WorkflowType="StatementPost" AND TaskQueue="{worker.task_queue}"'

        async def posts_under(query: str) -> int:
            return (await client.count_workflows(f"{posts} AND {query}")).count

        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue, run_date=await bank_date(bank_server))
            # From here on the ERP's open items do not answer: every look after the money left fails.
            await sap_admin.add_fault(sap_faults, {"match": "A_OperationalAcctgDocItemCube", "status": 503})

            async def outage_case():
                assert await posts_under('ExceptionType="ErpUnavailable" AND ExceptionOwner="integration-ops"') >= 1

            await advance_until_true(outage_case, bank_server)
            during = await handle.query(InvoiceToPayment.status)
            await sap_admin.clear_faults(sap_faults)
            done = await advance_until(handle, "COMPLETED", bank_server)

            async def no_case_left():
                assert await posts_under("ExceptionType IS NOT NULL") == 0

            await assert_eventually(no_case_left, timeout=30)
    # The lifecycle waited for the statement's answer under its clearing SLA, owning nothing itself.
    assert during.status.value in ("SETTLED", "CLEARED") and during.open_exception is None
    assert not done.open_outages and done.open_exception is None
    assert any(h.status.value == "CLEARED" for h in done.history)


async def test_erp_window_while_invoices_post_leaves_no_tickets_for_ap(client, sap_faults, store, monkeypatch):
    monkeypatch.setattr(opts, "ERP", short_erp(RetryPolicy(initial_interval=timedelta(seconds=1),
                                                           maximum_interval=timedelta(seconds=2))))
    invoices = [Invoice.model_validate(invoice_json(supplier_id="1000013")) for _ in range(200)]
    await sap_admin.add_fault(sap_faults, {"match": "A_SupplierInvoice$", "method": "POST", "status": 503})
    async with new_worker(client, sap_faults, store, sap_timeout=SAP_TIMEOUT) as worker:
        mine = f'TaskQueue="{worker.task_queue}"'
        handles = await asyncio.gather(*(client.start_workflow(
            InvoiceToPayment.run, i, id=i.workflow_id, task_queue=worker.task_queue) for i in invoices))

        async def count(query: str) -> int:
            return (await client.count_workflows(f"{mine} AND {query}")).count

        async def all_under_outage():
            # A post that outlived the HTTP timeout is an unknown outcome, not an outage: the
            # lifecycle waits and looks again (a few may be there on a loaded machine).
            outages = await count('ExceptionType="ErpUnavailable" AND ExceptionOwner="integration-ops"')
            assert outages >= 0.95 * len(handles)
            # Each with its SLA in visibility, for the reports' counts by owner and SLA state.
            assert await count("ExceptionOwner IS NOT NULL AND (CaseDueAt IS NULL OR CaseSeverity IS NULL)") == 0

        # 200 lifecycles start at once on a busy box: the last reach the post within minutes.
        await assert_eventually(all_under_outage, timeout=240, interval=2)
        assert await count('ExceptionOwner="ap-remediation"') == 0
        await sap_admin.clear_faults(sap_faults)

        async def all_scheduled():
            assert await count('InvoiceStatus="SCHEDULED"') == len(handles)
            assert await count("(ExceptionOwner IS NOT NULL OR CaseDueAt IS NOT NULL)") == 0  # closed by finsync

        await assert_eventually(all_scheduled, timeout=120, interval=2)
        sample = [await h.query(InvoiceToPayment.status) for h in handles[:10]]
        await asyncio.gather(*(h.terminate("test done") for h in handles))
    for view in sample:
        cases = {(c.type, c.owner.value, c.resolved_by) for c in view.closed_exceptions}
        assert cases == {("ErpUnavailable", "integration-ops", "finsync")}, view.closed_exceptions
    posted = await sap_admin.references_of(sap_faults, "1000013")  # and every one posted exactly once
    assert {i.supplier_invoice_ref: posted.count(i.supplier_invoice_ref) for i in invoices} == {
        i.supplier_invoice_ref: 1 for i in invoices}


async def advance_until_true(check, bank_url: str, max_days: int = 5):
    """Move the bank a day at a time until `check` passes (a statement may be needed)."""
    for _ in range(max_days):
        try:
            return await assert_eventually(check, timeout=8)
        except AssertionError:
            await bank_admin.advance(bank_url, 1)
    return await assert_eventually(check, timeout=10)


async def test_outage_case_opens_after_thirty_minutes_and_closes_itself_time_skipping(skipping_env, sap_server, store):
    """The real SLA (30 min for the ERP), on the time-skipping server with a stand-in for the
    post that fails for 45 minutes of workflow time."""
    client = skipping_env.client
    first_call: list = []

    @activity.defn(name="post_supplier_invoice")
    async def sap_busy_for_45_minutes(invoice: Invoice) -> PostingResult:
        now = activity.info().current_attempt_scheduled_time
        first_call.append(now) if not first_call else None
        if now - first_call[0] < timedelta(minutes=45):
            raise ApplicationError("no dialog work process available", type="CounterpartUnavailable")
        return PostingResult(outcome=PostingOutcome.POSTED, posted=PostedInvoice(
            erp_document=ErpDocument(invoice_document="5100009999", fiscal_year="2026",
                                     accounting_document="5100009999"),
            company_code=invoice.company_code, supplier_id=invoice.supplier_id, reference=invoice.supplier_invoice_ref,
            gross_amount=invoice.gross_amount, currency=invoice.currency))

    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, replace=[sap_busy_for_45_minutes]) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await skipping_env.sleep(timedelta(minutes=50))  # the server skips ahead through the retries
        view = await wait_for_status(handle, "SCHEDULED", timeout=30)
        await handle.terminate("test done")
    closed = [c for c in view.closed_exceptions if c.type == "ErpUnavailable"]
    assert len(closed) == 1 and closed[0].resolved_by == "finsync"
    # The test server fires the 30-minute schedule-to-close about on time (its clock jumps in steps).
    assert timedelta(minutes=25) <= closed[0].opened_at - first_call[0] < timedelta(minutes=35)
    assert closed[0].resolved_at - first_call[0] >= timedelta(minutes=45)
    assert view.open_exception is None
