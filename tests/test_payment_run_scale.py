"""One PaymentRun of 5,000 invoices, released, against a real mock-sap (its own, so the session's
stays small), the real mock-bank and stand-in lifecycles that speak the run's protocol
(tests/stand_in_lifecycle.py): nothing sticks on a payload, history or pending-signal limit,
every invoice is claimed in the ERP once and paid at the bank once, and the run's history stays
small whatever the run's size."""

import asyncio
import os
import time
import uuid
from datetime import date

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from adapters.bank import BankClient
from adapters.payment_registers import PaymentRegisters
from adapters.sap import SapClient
from adapters.treasury_store import OutflowRow
from canonical.invoice import Invoice
from canonical.payment import PaymentInstruction, end_to_end_id
from canonical.payment_run import PaymentRelease, PaymentRunRequest
from cli.processes import mock_sap
from codec.bank_details import data_converter, load_codec
from settings import Settings
from tests import bank_admin
from tests.conftest import TEMPORAL_BIN
from tests.helpers import assert_eventually, invoice_json
from tests.sap_bulk import count_claimed, post_invoices
from tests.servers import running
from tests.stand_in_lifecycle import StandInLifecycle, StandInPayable
from worker import activities_for, build_worker
from workflows import search_attributes as sa
from workflows.payment_run import PaymentRun, payment_run_workflow_id, run_identity

INVOICES = int(os.environ.get("FINSYNC_SCALE_INVOICES", 5_000))
PER_FILE = 1_000
HISTORY_EVENTS_MAX = 200  # the run's history does not grow with its invoices (5,000 → ~100 events)
HISTORY_BYTES_MAX = 200_000


@pytest_asyncio.fixture(scope="module")
async def scale_client(test_settings):
    """Its own dev server: 5,000 more lifecycles in the session's would show in every later
    listing of InvoiceToPayment (`python -m cli status`, reports)."""
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL_BIN, data_converter=data_converter(load_codec(test_settings)),
        search_attributes=sa.ALL, dev_server_log_level="error")
    try:
        yield environment.client
    finally:
        await environment.shutdown()


@pytest.fixture(scope="module")
def big_sap(tmp_path_factory):
    with running(lambda port, log: mock_sap(port, clock=f"{date.today().isoformat()}T09:00", log=log),
                 tmp_path_factory.mktemp("sap-scale") / "mock-sap.log") as url:
        yield url


def invoices(n: int) -> list[Invoice]:
    batch = uuid.uuid4().hex[:5].upper()
    return [Invoice.model_validate(invoice_json(
        ref=f"S{batch}-{i:05d}", net_amount="10.00", tax_amount="0.00", gross_amount="10.00",
        lines=[{"line_no": 1, "description": "Scale", "net_amount": "10.00"}])) for i in range(n)]


async def start_stand_ins(client, task_queue: str, posted, invoice_list: list[Invoice]) -> None:
    gate = asyncio.Semaphore(64)

    async def start(invoice: Invoice, erp) -> None:
        payable = StandInPayable(erp_document=erp.erp_document, approvers=["ap.approver"], instruction=PaymentInstruction(
            invoice_key=invoice.key, attempt=1, end_to_end_id=end_to_end_id(invoice.key, 1), amount=invoice.gross_amount,
            currency="EUR", requested_execution_date=date.today(), creditor_name="Scale Supplier GmbH",
            creditor_iban="DE89370400440532013000", remittance_reference=erp.reference))
        async with gate:
            await client.start_workflow(StandInLifecycle.run, payable, id=invoice.workflow_id, task_queue=task_queue)

    await asyncio.gather(*(start(i, p) for i, p in zip(invoice_list, posted, strict=True)))


def activity_spans(history) -> list[str]:
    """Each activity of the run from scheduled to closed, for the figures in the output."""
    scheduled, lines = {}, []
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            scheduled[e.event_id] = (e.activity_task_scheduled_event_attributes.activity_type.name, e.event_time.ToDatetime())
        for field in ("completed", "failed", "timed_out"):
            attrs = f"activity_task_{field}_event_attributes"
            if e.HasField(attrs):
                name, at = scheduled[getattr(e, attrs).scheduled_event_id]
                lines.append(f"  {name:28s} {(e.event_time.ToDatetime() - at).total_seconds():6.1f} s {field}")
    return lines


def expect_outflows(store, invoice_list: list[Invoice]) -> None:
    """What lifecycles register at SCHEDULED, written in one transaction."""
    with Session(store.engine) as session:
        session.add_all(OutflowRow(invoice_key=i.key, company_code="1710", supplier_id=i.supplier_id, currency="EUR",
                                   amount="10.00", value_date=i.net_due_date, state="expected", approvers='["ap.approver"]')
                        for i in invoice_list)
        session.commit()


async def test_a_run_of_5000_invoices_pays_each_once_with_a_small_history(scale_client, big_sap, bank_server, store):
    client = scale_client
    await bank_admin.reset(bank_server)
    await bank_admin.set_account(bank_server, "ACME", balance=10**12)
    started = time.monotonic()
    invoice_list = invoices(INVOICES)
    posted = await post_invoices(big_sap, invoice_list)
    expect_outflows(store, invoice_list)
    in_erp = time.monotonic()
    settings = Settings(sap_url=big_sap, bank_url=bank_server, task_queue=f"tq-{uuid.uuid4()}")
    lifecycles_queue = f"{settings.task_queue}-lifecycles"
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
        run_worker = build_worker(client, settings, sap, store, bank, workflows=[PaymentRun],
                                  activities=activities_for(client, settings, sap, store, bank))
        # The stand-ins on their own queue, so the run's tasks never wait behind 5,000 of
        # theirs; all of them cached (an evicted one is replayed for each update and signal),
        # and more pollers: the dev server hands out tasks faster than 5 pollers fetch them.
        lifecycles = Worker(client, task_queue=lifecycles_queue, workflows=[StandInLifecycle],
                            max_cached_workflows=INVOICES + 100, max_concurrent_workflow_task_polls=20)
        async with run_worker, lifecycles:
            await start_stand_ins(client, lifecycles_queue, posted, invoice_list)
            arranged = time.monotonic()
            request = PaymentRunRequest(paying_account_id="ACME", run_date=date.today(), horizon_days=60,
                                        max_payments_per_file=PER_FILE, requested_by="treasury.tom", release_above="1000.00")
            run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME") + "-scale",
                                              task_queue=settings.task_queue)

            async def awaiting_release():
                stage = (await run.query(PaymentRun.status))["stage"]
                assert stage.startswith(f"awaiting release: {INVOICES * 10}.00 EUR"), stage

            await assert_eventually(awaiting_release, timeout=30)
            released = time.monotonic()
            await run.execute_update(PaymentRun.release, PaymentRelease(released_by="treasury.tina"))
            summary = await run.result()
            ran = time.monotonic()

            async def every_stand_in_told():  # each ends once told; visibility follows with a lag
                done = await client.count_workflows(f"TaskQueue='{lifecycles_queue}' AND ExecutionStatus='Completed'")
                assert done.count == INVOICES, f"{done.count} of {INVOICES} told"

            await assert_eventually(every_stand_in_told, timeout=60, interval=1)
            told = time.monotonic()
    history = await run.fetch_history()
    size = len(history.to_json())
    print("\n" + "\n".join(activity_spans(history)))
    print(f"{INVOICES} invoices: SAP and store {in_erp - started:.1f} s, stand-ins started {arranged - in_erp:.1f} s, "
          f"run awaiting release {released - arranged:.1f} s, released to done {ran - released:.1f} s, "
          f"every stand-in ended {told - ran:.1f} s later; run history {len(history.events)} events, "
          f"{size / 1024:.0f} KB as JSON; total {told - started:.1f} s")

    run_key, erp_run_id = run_identity(request)
    assert summary.selected == summary.paid_invoices == INVOICES and summary.not_taken == 0, summary
    files = -(-INVOICES // PER_FILE)
    assert summary.message_ids == [f"FS-{run_key}-{n:02d}" for n in range(1, files + 1)]
    assert str(summary.total) == f"{INVOICES * 10}.00" and summary.released_by == "treasury.tina"
    assert summary.execution_date == date.today()
    assert await count_claimed(big_sap, erp_run_id) == INVOICES
    async with httpx.AsyncClient(base_url=bank_server, timeout=60) as http:
        at_bank = (await http.get("/_mock/payments")).json()
    ours = [p for p in at_bank if p["msg_id"].startswith(f"FS-{run_key}-")]
    assert len(ours) == INVOICES and len({p["end_to_end_id"] for p in ours}) == INVOICES
    assert {p["status"] for p in ours} == {"accepted"}
    assert len(PaymentRegisters(store.engine).payments_in_message(summary.message_ids[-1])) == INVOICES - PER_FILE * (files - 1)
    assert len(history.events) <= HISTORY_EVENTS_MAX and size <= HISTORY_BYTES_MAX
