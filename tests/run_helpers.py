"""Payment runs against stand-in lifecycles (tests/stand_in_lifecycle.py): a private Temporal
dev server (stand-ins named InvoiceToPayment must not show in the session's listings and
reports), invoices posted to a real mock-sap in bulk, their expected outflows, the stand-ins,
and two workers: the run's in the test process, the stand-ins' in a process of its own."""

import asyncio
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from sqlmodel import Session
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.bank import BankClient
from adapters.sap import SapClient
from adapters.treasury_store import OutflowRow, TreasuryStore
from canonical.erp import PostedInvoice
from canonical.invoice import Invoice
from canonical.payment import PaymentInstruction, end_to_end_id
from cli.processes import ManagedProcess
from codec.bank_details import data_converter, load_codec
from settings import Settings
from tests.clock import business_today
from tests.helpers import TEST_CODEC_KEY, activity_name, assert_eventually, invoice_json
from tests.sap_bulk import post_invoices
from tests.stand_in_lifecycle import StandInLifecycle, StandInPayable
from worker import activities_for, build_worker
from workflows import search_attributes as sa
from workflows.payment_run import PaymentRun


@asynccontextmanager
async def private_temporal(test_settings: Settings, temporal_bin: str):
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_bin, data_converter=data_converter(load_codec(test_settings)),
        search_attributes=sa.ALL, dev_server_log_level="error")
    try:
        yield environment.client
    finally:
        await environment.shutdown()


def invoices(n: int, amount: str = "10.00") -> list[Invoice]:
    batch = uuid.uuid4().hex[:5].upper()
    return [Invoice.model_validate(invoice_json(
        ref=f"S{batch}-{i:05d}", net_amount=amount, tax_amount="0.00", gross_amount=amount,
        lines=[{"line_no": 1, "description": "Stand-in", "net_amount": amount}])) for i in range(n)]


def expect_outflows(store: TreasuryStore, invoice_list: list[Invoice], approver: str = "ap.approver") -> None:
    """What lifecycles register at SCHEDULED, written in one transaction."""
    with Session(store.engine) as session:
        session.add_all(OutflowRow(invoice_key=i.key, company_code=i.company_code, supplier_id=i.supplier_id,
                                   currency=i.currency, amount=str(i.gross_amount), value_date=i.net_due_date,
                                   state="expected", approvers=f'["{approver}"]') for i in invoice_list)
        session.commit()


async def payable_invoices(sap_url: str, store: TreasuryStore, n: int, amount: str = "10.00"
                           ) -> tuple[list[Invoice], list[PostedInvoice]]:
    """n invoices posted in the ERP and expected in the treasury store."""
    invoice_list = invoices(n, amount)
    posted = await post_invoices(sap_url, invoice_list)
    expect_outflows(store, invoice_list)
    return invoice_list, posted


async def start_stand_ins(client: Client, task_queue: str, invoice_list: list[Invoice], posted: list[PostedInvoice],
                          approver: str = "ap.approver") -> None:
    gate = asyncio.Semaphore(64)

    async def start(invoice: Invoice, erp: PostedInvoice) -> None:
        payable = StandInPayable(erp_document=erp.erp_document, approvers=[approver], instruction=PaymentInstruction(
            invoice_key=invoice.key, attempt=1, end_to_end_id=end_to_end_id(invoice.key, 1),
            amount=invoice.gross_amount,
            currency=invoice.currency, requested_execution_date=business_today(),
            creditor_name="Stand-in Supplier GmbH",
            creditor_iban="DE89370400440532013000", remittance_reference=erp.reference))
        async with gate:
            await client.start_workflow(StandInLifecycle.run, payable, id=invoice.workflow_id, task_queue=task_queue)

    await asyncio.gather(*(start(i, p) for i, p in zip(invoice_list, posted, strict=True)))


@asynccontextmanager
async def stand_in_worker(client: Client, task_queue: str, cached: int, log: Path):
    """The stand-ins' worker in a process of its own (tests/stand_in_worker.py): thousands of
    them in the test process would share its interpreter lock with the run's worker."""
    process = ManagedProcess("stand-in worker", [sys.executable, "-m", "tests.stand_in_worker",
                                                 client.service_client.config.target_host, task_queue, str(cached)],
                             log, env={"FINSYNC_CODEC_KEY": TEST_CODEC_KEY}).start()
    try:
        async def ready():
            assert process.proc.poll() is None, f"stand-in worker exited; see {log}"
            assert log.exists() and "ready" in log.read_text(), "stand-in worker not ready yet"

        await assert_eventually(ready, timeout=30)
        yield
    finally:
        process.stop()


@asynccontextmanager
async def run_and_stand_ins(client: Client, store: TreasuryStore, sap_url: str, bank_url: str, log_dir: Path, *,
                            sap_timeout: float = 30.0, replace=None, stand_ins: int = 1000):
    """(settings, stand-ins' task queue): the run's worker with the real activities (or
    `replace`-ments built by the caller), and the stand-ins' worker on a queue of its own."""
    settings = Settings(sap_url=sap_url, bank_url=bank_url, task_queue=f"tq-{uuid.uuid4()}",
                        sap_timeout_seconds=sap_timeout)
    lifecycles_queue = f"{settings.task_queue}-lifecycles"
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
        chosen = {activity_name(a): a for a in replace or []}
        activities = [chosen.get(activity_name(a), a) for a in activities_for(client, settings, sap, store, bank)]
        run_worker = build_worker(client, settings, sap, store, bank, workflows=[PaymentRun], activities=activities)
        async with (stand_in_worker(client, lifecycles_queue, stand_ins + 100, log_dir / "stand-in-worker.log"),
                    run_worker):
            yield settings, lifecycles_queue


def activity_spans(history) -> list[str]:
    """Each activity of a run from scheduled to closed, for the figures a test prints."""
    scheduled, lines = {}, []
    for e in history.events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            scheduled[e.event_id] = (e.activity_task_scheduled_event_attributes.activity_type.name,
                                     e.event_time.ToDatetime())
        for field in ("completed", "failed", "timed_out"):
            attrs = f"activity_task_{field}_event_attributes"
            if e.HasField(attrs):
                name, at = scheduled[getattr(e, attrs).scheduled_event_id]
                lines.append(f"  {name:28s} {(e.event_time.ToDatetime() - at).total_seconds():6.1f} s {field}")
    return lines
