"""The ERP claim of a payment run against a slow SAP (mock-sap with --latency-ms, its own): in
chunks through `$batch`, with a heartbeat; when SAP stops answering mid-claim (the `slow`
scenario past the worker's SAP timeout) the activity is retried and resumes with the invoices
not yet claimed: no document is written twice, none claimed before is read again. Stand-in
lifecycles (tests/stand_in_lifecycle.py) on a private dev server keep the test about the ERP."""

import re

import httpx
import pytest
import pytest_asyncio

from activities.payment_run import PaymentRunActivities
from adapters.bank import BankClient
from adapters.erp_connections import erp_directory
from adapters.payment_registers import PaymentRegisters
from adapters.payment_run_store import CLAIMED, PaymentRunStore
from adapters.sap import SapClient
from canonical.payment_run import ErpClaimResult
from cli.processes import BIN, ManagedProcess
from settings import get_settings
from tests import bank_admin, sap_admin
from tests.clock import business_today, profile
from tests.conftest import TEMPORAL_BIN
from tests.helpers import assert_eventually, run_request
from tests.run_helpers import activity_spans, payable_invoices, private_temporal, run_and_stand_ins, start_stand_ins
from tests.sap_bulk import count_claimed
from tests.servers import running
from workflows.payment_run import PaymentRun, payment_run_workflow_id, run_identity

# What is checked is what reached the bank (accepted, once per invoice), with no bank inbox
# running: the bank's calendar changes nothing here.
pytestmark = pytest.mark.clock_independent

INVOICES, CHUNK = 80, 10
LATENCY_MS, SAP_TIMEOUT = 60, 1.0  # every SAP request waits 60 ms; the `slow` one 3 s, past the timeout


@pytest_asyncio.fixture(scope="module")
async def private_client(test_settings):
    async with private_temporal(test_settings, TEMPORAL_BIN) as client:
        yield client


@pytest.fixture(scope="module")
def slow_sap(tmp_path_factory):
    def start(port, log):
        return ManagedProcess("mock-sap", [str(BIN / "mock-sap"), "--port", str(port), "--db", ":memory:", "-q",
                                           "--clock", profile().clock_arg, "--latency-ms", str(LATENCY_MS)], log)

    with running(start, tmp_path_factory.mktemp("sap-slow") / "mock-sap.log") as url:
        yield url


async def batch_bodies(sap_url: str) -> list[str]:
    async with httpx.AsyncClient(base_url=sap_url, timeout=30) as http:
        rows = (await http.get("/_mock/requests", params={"limit": 500, "verbose": 1})).json()["results"]
    return [r["body"] or "" for r in rows if r["path"].endswith("$batch")]


async def test_claim_resumes_after_sap_stops_answering_and_writes_each_document_once(
        private_client, slow_sap, bank_server, store, tmp_path):
    client = private_client
    await bank_admin.reset(bank_server)
    invoice_list, posted = await payable_invoices(slow_sap, store, INVOICES)
    documents = {p.erp_document.invoice_document for p in posted}
    settings = get_settings()
    async with SapClient(slow_sap, timeout=SAP_TIMEOUT) as sap, BankClient(bank_server) as bank:
        small_chunks = PaymentRunActivities(client, store, PaymentRegisters(store.engine),
                                            erp_directory(sap, settings), bank, settings.paying_accounts,
                                            claim_chunk=CHUNK)
        async with run_and_stand_ins(client, store, slow_sap, bank_server, tmp_path, sap_timeout=SAP_TIMEOUT,
                                     replace=[small_chunks.claim_in_erp]) as (worker_settings, lifecycles_queue):
            await start_stand_ins(client, lifecycles_queue, invoice_list, posted)
            request = run_request(payment_run_workflow_id("ACME") + "-claims", paying_account_id="ACME",
                                  run_date=business_today(), horizon_days=60)
            run_key, erp_run_id = run_identity(request)
            run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME") + "-claims",
                                              task_queue=worker_settings.task_queue)
            runs = PaymentRunStore(store.engine)

            async def some_claimed():
                assert runs.counts(run_key)[CLAIMED] >= CHUNK

            await assert_eventually(some_claimed, timeout=30, interval=0.02)
            # SAP stops answering: the next read of open items outlasts the worker's SAP timeout.
            await sap_admin.add_fault(slow_sap, {"match": r"API_OPLACCTGDOCITEMCUBE_SRV/\$batch$", "method": "POST",
                                                 "scenario": "slow", "count": 1})
            summary = await run.result()
        history = await run.fetch_history()

    # By the scheduled event's activity type: the last failure's message is encoded (no text to match).
    claims = {e.event_id for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
              and e.activity_task_scheduled_event_attributes.activity_type.name == "claim_in_erp"}
    claim_attempts = [e.activity_task_started_event_attributes.attempt for e in history.events
                      if e.HasField("activity_task_started_event_attributes")
                      and e.activity_task_started_event_attributes.scheduled_event_id in claims]
    claimed_event = next(e for e in history.events if e.HasField("activity_task_completed_event_attributes")
                         and b"resumed_from" in e.activity_task_completed_event_attributes.result.payloads[0].data)
    result = ErpClaimResult.model_validate_json(
        claimed_event.activity_task_completed_event_attributes.result.payloads[0].data)
    print("\n" + "\n".join(activity_spans(history)) + f"\nclaim: {result}")

    assert summary.paid_invoices == INVOICES and summary.not_taken == 0, summary
    assert await count_claimed(slow_sap, erp_run_id) == INVOICES
    # The retried activity started with what the first attempt had claimed, and did the rest.
    assert CHUNK <= result.resumed_from < INVOICES and result.claimed == INVOICES, result
    patched = [m for body in await batch_bodies(slow_sap)
               for m in re.findall(r"PATCH A_SupplierInvoice\(SupplierInvoice='(\d+)'", body)]
    assert sorted(patched) == sorted(documents)  # every document written exactly once
    read = [m for body in await batch_bodies(slow_sap)
            for m in re.findall(r"GET A_SupplierInvoice\(SupplierInvoice='(\d+)'", body)]
    read_twice = {d for d in read if read.count(d) > 1}
    assert len(read_twice) <= CHUNK, read_twice  # at most the chunk in flight is read again
    assert claim_attempts and max(claim_attempts) >= 2, claim_attempts
