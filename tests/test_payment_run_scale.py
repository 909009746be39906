"""One PaymentRun of 5,000 invoices, released, against a real mock-sap (its own, so the session's
stays small), the real mock-bank and stand-in lifecycles that speak the run's protocol
(tests/stand_in_lifecycle.py) on a private dev server: nothing sticks on a payload, history or
pending-signal limit, every invoice is claimed in the ERP once and paid at the bank once, every
lifecycle is told, and the run's history stays small whatever the run's size."""

import os
import time

import httpx
import pytest
import pytest_asyncio

from adapters.payment_registers import PaymentRegisters
from adapters.payment_run_store import SENT, PaymentRunStore
from cli.processes import mock_sap
from tests import bank_admin
from tests.clock import business_today, profile
from tests.conftest import TEMPORAL_BIN
from tests.helpers import assert_eventually, decision_input, run_request, session_issuer
from tests.run_helpers import activity_spans, payable_invoices, private_temporal, run_and_stand_ins, start_stand_ins
from tests.sap_bulk import count_claimed
from tests.servers import running
from workflows.payment_run import PaymentRun, payment_run_workflow_id, run_identity

# What is checked is what reached the bank (accepted, once per invoice), with no bank inbox
# running: the bank's calendar changes nothing here.
pytestmark = pytest.mark.clock_independent

INVOICES = int(os.environ.get("FINSYNC_SCALE_INVOICES", 5_000))
PER_FILE = 1_000
HISTORY_EVENTS_MAX = 200  # the run's history does not grow with its invoices (5,000 → ~120 events)
HISTORY_BYTES_MAX = 200_000


@pytest_asyncio.fixture(scope="module")
async def private_client(test_settings):
    async with private_temporal(test_settings, TEMPORAL_BIN) as client:
        yield client


@pytest.fixture(scope="module")
def big_sap(tmp_path_factory):
    with running(lambda port, log: mock_sap(port, clock=profile().clock_arg, log=log),
                 tmp_path_factory.mktemp("sap-scale") / "mock-sap.log") as url:
        yield url


async def test_a_run_of_5000_invoices_pays_each_once_with_a_small_history(private_client, big_sap, bank_server, store,
                                                                          tmp_path):
    client = private_client
    await bank_admin.reset(bank_server)
    await bank_admin.set_account(bank_server, "ACME", balance=10**12)
    started = time.monotonic()
    invoice_list, posted = await payable_invoices(big_sap, store, INVOICES)
    in_erp = time.monotonic()
    async with run_and_stand_ins(client, store, big_sap, bank_server, tmp_path, stand_ins=INVOICES) as workers:
        settings, lifecycles_queue = workers
        await start_stand_ins(client, lifecycles_queue, invoice_list, posted)
        arranged = time.monotonic()
        request = run_request(payment_run_workflow_id("ACME") + "-scale", paying_account_id="ACME",
                              run_date=business_today(), horizon_days=60, max_payments_per_file=PER_FILE,
                              release_above="1000.00")
        run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME") + "-scale",
                                          task_queue=settings.task_queue)

        async def awaiting_release():
            stage = (await run.query(PaymentRun.status))["stage"]
            assert stage.startswith(f"awaiting release: {INVOICES * 10}.00 EUR"), stage

        await assert_eventually(awaiting_release, timeout=30)
        released = time.monotonic()
        await run.execute_update("release", decision_input(session_issuer(), run.id, "release", "treasury.rita"))
        summary = await run.result()
        ran = time.monotonic()
        history = await run.fetch_history()
        size = len(history.to_json())
        print("\n" + "\n".join(activity_spans(history)))
        print(f"{INVOICES} invoices: SAP and store {in_erp - started:.1f} s, "
              f"stand-ins started {arranged - in_erp:.1f} s, "
              f"run awaiting release {released - arranged:.1f} s, released to done {ran - released:.1f} s; "
              f"run history {len(history.events)} events, {size / 1024:.0f} KB as JSON")

        run_key, erp_run_id = run_identity(request)
        files = -(-INVOICES // PER_FILE)
        assert summary.selected == summary.paid_invoices == INVOICES and summary.not_taken == 0, summary
        assert summary.message_ids == [f"FS-{run_key}-{n:02d}" for n in range(1, files + 1)]
        assert str(summary.total) == f"{INVOICES * 10}.00" and summary.released_by == "treasury.rita"
        assert summary.execution_date == business_today()
        assert len(history.events) <= HISTORY_EVENTS_MAX and size <= HISTORY_BYTES_MAX
        assert PaymentRunStore(store.engine).counts(run_key) == {SENT: INVOICES}  # every lifecycle was told
        assert await count_claimed(big_sap, erp_run_id) == INVOICES
        async with httpx.AsyncClient(base_url=bank_server, timeout=60) as http:
            at_bank = [p for p in (await http.get("/_mock/payments")).json()
                       if p["msg_id"].startswith(f"FS-{run_key}-")]
        assert len(at_bank) == len({p["end_to_end_id"] for p in at_bank}) == INVOICES
        assert {p["status"] for p in at_bank} == {"accepted"}
        last_file = PaymentRegisters(store.engine).payments_in_message(summary.message_ids[-1])
        assert len(last_file) == INVOICES - PER_FILE * (files - 1)

        async def every_stand_in_ended():  # each ends once told; it works through its signal queue
            done = await client.count_workflows(f"TaskQueue='{lifecycles_queue}' AND ExecutionStatus='Completed'")
            assert done.count == INVOICES, f"{done.count} of {INVOICES} ended"

        await assert_eventually(every_stand_in_ended, timeout=180, interval=2)
        print(f"every stand-in ended {time.monotonic() - ran:.1f} s after the run; "
              f"total {time.monotonic() - started:.1f} s")
