"""A run that ends without sending its files never strands its invoices, and never frees one
that may be at the bank: terminated while its first file is being submitted (the bank does
not answer), `python -m cli payment-run recover` gives the others back (their files withdrawn,
their ERP claims released) and keeps the one whose file may have reached the bank; the next
run pays the freed ones exactly once. A run cancelled mid-claim gives back by itself."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError

from activities.payment_run import PaymentRunActivities
from adapters.bank import BankClient
from adapters.erp_connections import erp_directory
from adapters.payment_registers import PaymentRegisters
from adapters.payment_run_store import FILED, RELEASED, SUBMITTING, WITHDRAWN, PaymentRunStore
from adapters.sap import SapClient
from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from settings import get_settings
from tests import bank_admin, sap_admin
from tests.clock import business_today
from tests.helpers import TEST_CODEC_KEY, assert_eventually, invoice_json, new_worker, run_request, wait_for_status
from tests.payment_helpers import pay
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id, run_identity

# What is checked is what reached the bank (accepted, once per invoice), with no bank inbox
# running: the bank's calendar changes nothing here.
pytestmark = pytest.mark.clock_independent

ROOT = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def scheduled(client, task_queue: str, n: int) -> list:
    invoices = [Invoice.model_validate(invoice_json(supplier_id="1000013")) for _ in range(n)]
    handles = [await client.start_workflow(InvoiceToPayment.run, i, id=i.workflow_id, task_queue=task_queue)
               for i in invoices]
    for handle in handles:
        await wait_for_status(handle, "SCHEDULED")
    return handles


def recover(run_key: str, temporal_address: str, sap_url: str, store) -> subprocess.CompletedProcess:
    """The command as treasury runs it."""
    env = {**os.environ, "TEMPORAL_ADDRESS": temporal_address, "FINSYNC_CODEC_KEY": TEST_CODEC_KEY,
           "FINSYNC_SAP_URL": sap_url, "FINSYNC_TREASURY_DB_URL": str(store.engine.url)}
    return subprocess.run([sys.executable, "-m", "cli", "payment-run", "recover", run_key, "--by", "treasury.tom"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


async def erp_claim(sap_url: str, handle) -> str:
    doc = (await handle.query("status", result_type=InvoiceLifecycleStatus)).erp_document
    return (await sap_admin.get_invoice(sap_url, doc.invoice_document, doc.fiscal_year))["PaymentRunID"]


async def test_terminated_run_is_recovered_except_what_may_be_at_the_bank(client, sap_server, bank_server, store,
                                                                           temporal_address):
    runs = PaymentRunStore(store.engine)
    request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME", run_date=business_today(),
                          horizon_days=60, max_payments_per_file=1)
    run_key, erp_run_id = run_identity(request)
    async with SapClient(sap_server) as sap, BankClient("http://127.0.0.1:9") as no_bank:
        # The bank does not answer: the first file's submission starts and never ends.
        silent = PaymentRunActivities(client, store, PaymentRegisters(store.engine),
                                      erp_directory(sap, get_settings()), no_bank, get_settings().paying_accounts)
        async with new_worker(client, sap_server, store, bank_url=bank_server,
                              replace=[silent.submit_payment_file]) as worker:
            task_queue = worker.task_queue
            handles = await scheduled(client, task_queue, 3)
            run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                              task_queue=task_queue)

            async def first_file_submitting():
                files = runs.files(run_key)
                assert [f.state for f in files] == [SUBMITTING, "built", "built"], files

            await assert_eventually(first_file_submitting, timeout=30)
            [in_first_file] = runs.items(run_key, (FILED,), 10, f"FS-{run_key}-01")
            at_bank = next(h for h in handles if h.id == in_first_file.workflow_id)
            freed = [h for h in handles if h is not at_bank]
            while_running = await asyncio.to_thread(recover, run_key, temporal_address, sap_server, store)
            await run.terminate("treasury stops the run")
            recovered = await asyncio.to_thread(recover, run_key, temporal_address, sap_server, store)
            for handle in freed:
                await wait_for_status(handle, "SCHEDULED")
            kept = await wait_for_status(at_bank, "IN_PAYMENT_RUN")
            again = await asyncio.to_thread(recover, run_key, temporal_address, sap_server, store)
            claims = {h.id: await erp_claim(sap_server, h) for h in handles}
        async with new_worker(client, sap_server, store, bank_url=bank_server, task_queue=task_queue):
            second = await pay(client, task_queue, run_number=2)
            paid = [await wait_for_status(h, "SENT_TO_BANK") for h in freed]
        for handle in handles:
            await handle.terminate("test done")

    assert while_running.returncode == 3 and "still running" in while_running.stderr, while_running
    assert recovered.returncode == 4, (recovered.stdout, recovered.stderr)
    assert "2 invoices given back" in recovered.stdout and "2 ERP claims" in recovered.stdout, recovered.stdout
    assert f"kept {kept.invoice_key}: FS-{run_key}-01 may have reached the bank" in recovered.stdout
    assert again.returncode == 4 and "0 invoices given back" in again.stdout, again.stdout
    assert [f.state for f in runs.files(run_key)] == [SUBMITTING, WITHDRAWN, WITHDRAWN]
    assert runs.counts(run_key)[RELEASED] == 2 and runs.header(run_key).recovered_by == "treasury.tom"
    assert claims[at_bank.id] == erp_run_id and [claims[h.id] for h in freed] == ["", ""]
    # The next run pays the freed invoices once, under new EndToEndIds; the kept one is not paid again.
    assert second.paid_invoices == 2 and second.not_taken == 1 and kept.invoice_key in second.refused, second
    for view in paid:
        first, retry = view.payment_attempts
        assert (first.outcome, retry.attempt) == ("released", 2)
        assert await bank_admin.payments_for(bank_server, first.end_to_end_id) == []
        assert len(await bank_admin.payments_for(bank_server, retry.end_to_end_id)) == 1
    assert await bank_admin.payments_for(bank_server, kept.payment_attempts[-1].end_to_end_id) == []


async def test_cancelled_run_gives_back_what_it_reserved(client, sap_server, bank_server, store):
    runs = PaymentRunStore(store.engine)
    request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME", run_date=business_today(),
                          horizon_days=60, run_number=3)
    run_key, _ = run_identity(request)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handles = await scheduled(client, worker.task_queue, 2)
        # The ERP is down for the claim: the run waits on it with its invoices reserved.
        await sap_admin.add_fault(sap_server, {"match": r"/\$batch$", "method": "POST", "status": 503, "count": 10_000})
        try:
            run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                              task_queue=worker.task_queue)
            for handle in handles:
                await wait_for_status(handle, "IN_PAYMENT_RUN")
            await run.cancel()
        finally:  # the ERP comes back: the give-back checks it for this run's claims first
            await sap_admin.clear_faults(sap_server)
        with pytest.raises(WorkflowFailureError) as ended:
            await run.result()
        views = [await wait_for_status(h, "SCHEDULED") for h in handles]
        for handle in handles:
            await handle.terminate("test done")
    assert type(ended.value.cause).__name__ == "CancelledError"
    assert runs.counts(run_key) == {RELEASED: 2}
    assert [v.payment_attempts[-1].outcome for v in views] == ["released", "released"]
    assert PaymentRegisters(store.engine).lock_holder("ACME") is None
