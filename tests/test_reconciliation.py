"""Reconciliation against the real mock-sap, mock-bank and dev server: drifts seeded directly
into each side are found by kind, the safe one (ERP cleared, lifecycle still waiting) is
healed by a signal, the rest are left for people and the run is findable by ExceptionOwner."""

import asyncio
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from activities.reconciliation import ReconciliationActivities
from adapters.bank import BankClient
from adapters.erp_connections import erp_directory
from adapters.iso20022.pain001 import build_pain001
from adapters.payment_registers import PaymentRegisters
from adapters.sap import SapClient
from canonical.bank import PaymentFile
from canonical.commands import LifecyclePolicy
from canonical.payment import PaymentInstruction
from canonical.reconciliation import DriftKind, ReconciliationReport, ReconciliationRequest
from canonical.treasury import ExpectedOutflow
from reports import exceptions_table, load_reconciliation, render_reconciliation
from settings import DEFAULT_PAYING_ACCOUNTS, Settings
from tests import bank_admin, sap_admin
from tests.bank_files import foreign_payment_file
from tests.clock import business_today
from tests.helpers import (
    activities_scheduled,
    assert_eventually,
    make_invoice,
    new_worker,
    run_module,
    unique_ref,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.schedules import run_scheduled_once
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment
from workflows.reconciliation import Reconciliation

# The embedded stack's 1710 paying from ACME (a request without them reconciles every legal entity).
SAMPLE_SCOPE = {"company_code": "1710", "paying_account_id": "ACME"}

pytestmark = pytest.mark.clock_sensitive


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


@asynccontextmanager
async def reconciliation_worker(client, sap_server, bank_server, store, report_dir: Path):
    """The usual worker plus the reconciliation (worker.py does not register it yet)."""
    settings = Settings(sap_url=sap_server, bank_url=bank_server)
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
        rec = ReconciliationActivities(client, erp_directory(sap, settings), store, PaymentRegisters(store.engine),
                                       report_dir=report_dir)
        extra = [rec.erp_supplier_items, rec.expected_outflows, rec.lifecycle_facts, rec.bank_findings,
                 rec.write_report]
        async with new_worker(client, sap_server, store, bank_url=bank_server, extra_workflows=[Reconciliation],
                              extra_activities=extra) as worker:
            yield worker, sap, bank


async def first_look_at_erp(handle) -> None:
    """SETTLED (the bank inbox made the outflow actual as it read the camt.054) and now waiting
    for clearing (no read first: the statement is not posted yet): clearing the item in the ERP
    after this is something the lifecycle can only learn from a hint. The task that took the
    settlement went on into the clearing wait, so a status query answering SETTLED comes after it."""
    await wait_for_status(handle, "SETTLED", timeout=15)


def resend_by_hand(invoice, end_to_end_id: str, bank_day: date) -> bytes:
    """The same payment in a new file (new MsgId): the bank pays it again (guide §5)."""
    payment = PaymentInstruction(invoice_key=invoice.key, attempt=1, end_to_end_id=end_to_end_id,
                                 amount=invoice.gross_amount,
                                 currency="EUR", requested_execution_date=bank_day, creditor_name="GLOBEX",
                                 creditor_iban="NL14MOCK0000000002", creditor_bic="MOCKNL2A",
                                 remittance_reference="RESENT")
    return build_pain001(PaymentFile(message_id=f"BY-HAND-{uuid.uuid4().hex[:8]}", payment_info_id="BY-HAND-P",
                                     created_at=datetime.now(UTC), execution_date=bank_day,
                                     debtor=DEFAULT_PAYING_ACCOUNTS["ACME"], payments=[payment]))


async def bank_day(bank_url: str) -> date:
    async with httpx.AsyncClient(base_url=bank_url) as http:
        response = await http.get("/_mock/state")
    response.raise_for_status()
    return date.fromisoformat(response.json()["clock"]["date"])


async def days_past_booking(bank_url: str, end_to_end_id: str) -> int:
    """Days to advance the bank until the statement of the last payment's settlement day is out."""
    settled = max(date.fromisoformat(p["settlement_date"])
                  for p in await bank_admin.payments_for(bank_url, end_to_end_id))
    return (settled - await bank_day(bank_url)).days + 1


async def post_file(bank_url: str, xml: bytes) -> None:
    async with httpx.AsyncClient(base_url=bank_url) as http:
        (await http.post("/payments", content=xml, headers={"Content-Type": "application/xml"})).raise_for_status()


async def test_reconciliation_finds_seeded_drifts_and_heals_the_safe_one(client, sap_server, bank_server, store,
                                                                         tmp_path, temporal_address):
    registers = PaymentRegisters(store.engine)
    async with reconciliation_worker(client, sap_server, bank_server, store,
                                     tmp_path / "reports") as (worker, sap, bank):
        # (a) posted straight into the ERP, no lifecycle
        stray = make_invoice(supplier_id="1000016")
        await sap.post_supplier_invoice(stray)
        # (b) a lifecycle that would look at the ERP only in 1000 hours
        invoice = make_invoice(supplier_id="1000013")
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue,
                                             memo={POLICY_MEMO: LifecyclePolicy(clearing_check_hours=1000)})
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            await post_file(bank_server, foreign_payment_file())  # (d) someone else's payment from our account
            await pay(client, worker.task_queue)
            view = await advance_until(handle, "SETTLED", bank_server)
            await first_look_at_erp(handle)
            await assert_eventually(lambda: _problem_about(registers, "SOMEONE-ELSE-1"), timeout=15)
        # The inbox is gone: no statement reaches the ERP, the lifecycle waits at SETTLED.
        e2e = view.payment_attempts[0].end_to_end_id
        await post_file(bank_server, resend_by_hand(invoice, e2e, await bank_day(bank_server)))  # paid twice
        # Through the statement of the day the resent payment is booked (the next business day when
        # it came after the cut-off), recorded but not yet applied.
        await bank_admin.advance(bank_server, await days_past_booking(bank_server, e2e))
        registers.record_bank_messages(await bank.peek_mailbox())
        # (b) the ERP is cleared behind the lifecycle's back
        await sap_admin.clear_by_hand(sap_server, view.erp_document)
        ghost = f"1710-1000013-{unique_ref('GHOST')}"  # (c) treasury expects money for no invoice
        store.upsert_expected_outflow(ExpectedOutflow(invoice_key=ghost, company_code="1710", supplier_id="1000013",
                                                      currency="EUR", amount=Decimal("77.10"),
                                                      value_date=business_today()))

        rec_id = f"reconciliation-1710-{uuid.uuid4().hex[:6]}"
        report = await client.execute_workflow(Reconciliation.run, ReconciliationRequest(**SAMPLE_SCOPE),
                                               id=rec_id, task_queue=worker.task_queue,
                                               execution_timeout=timedelta(minutes=1))
        healed = await wait_for_status(handle, "COMPLETED")
        described = await client.get_workflow_handle(rec_id).describe()
        case, printed = await reports_after(client, rec_id, temporal_address, str(store.engine.url))

    by_kind = {(d.kind, d.key): d for d in report.drifts}
    assert (DriftKind.POSTED_WITHOUT_LIFECYCLE, stray.key) in by_kind
    waiting = by_kind[(DriftKind.ERP_CLEARED_LIFECYCLE_WAITING, invoice.key)]
    assert waiting.safe and waiting.healed and waiting.workflow_id == invoice.workflow_id
    assert "CLEARED" in [h.status.value for h in healed.history]
    # Reconciliation's hint carries no ERP answer: the lifecycle read the item itself, once.
    assert await activities_scheduled(handle, "read_open_item") == 1
    outflow = by_kind[(DriftKind.OUTFLOW_WITHOUT_INVOICE, ghost)]
    assert outflow.owner.value == "treasury-ops" and str(outflow.amount) == "77.10" and not outflow.healed
    unmatched = [d for d in report.drifts if d.kind == DriftKind.STATEMENT_ENTRY_UNMATCHED]
    # the inbox's problem:
    assert any("SOMEONE-ELSE-1" in d.detail for d in unmatched if d.key != "SOMEONE-ELSE-1"), unmatched
    assert (DriftKind.STATEMENT_ENTRY_UNMATCHED, "SOMEONE-ELSE-1") in by_kind  # the camt.053 debit
    twice = by_kind[(DriftKind.PAID_TWICE, invoice.key)]
    assert str(twice.amount) == "1190.00" and e2e in twice.detail and "2 times" in twice.detail
    resent = [d for d in unmatched if d.key == e2e]  # the second debit of our EndToEndId, in a file we never sent
    assert len(resent) == 1 and "BY-HAND-" in resent[0].detail
    assert by_kind[(DriftKind.POSTED_WITHOUT_LIFECYCLE, stray.key)].owner.value == "ap-remediation"
    assert [d for d in report.open_drifts if d.healed] == []

    assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) == "treasury-ops"
    assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) == "ReconciliationDrift"
    saved = load_reconciliation(Path(report.report_path))
    assert Path(report.report_path).parent == tmp_path / "reports"
    assert saved.drifts == report.drifts and saved.report_path == report.report_path
    text = render_reconciliation(saved)
    for kind in ("POSTED_WITHOUT_LIFECYCLE", "ERP_CLEARED_LIFECYCLE_WAITING", "OUTFLOW_WITHOUT_INVOICE",
                 "STATEMENT_ENTRY_UNMATCHED", "PAID_TWICE", "healed"):
        assert kind in text, text

    # The people's reports on the run: its open drifts are one treasury case, with the kinds and the kept report.
    assert (case.type, case.owner, case.subject) == ("ReconciliationDrift", "treasury-ops", "1710/ACME")
    open_kinds = sorted({d.kind.value for d in report.open_drifts})
    assert case.reason == f"{len(report.open_drifts)} drifts ({', '.join(open_kinds)}); report {report.report_path}"
    exceptions, status = printed
    assert exceptions.returncode == 0 and status.returncode == 0, exceptions.stderr + status.stderr
    rows = exceptions.stdout.splitlines()
    assert any("ReconciliationDrift" in line and "PAID_TWICE" in line for line in rows), exceptions.stdout
    assert "treasury-ops  1" in status.stdout and "no outflows" not in status.stdout, status.stdout


async def reports_after(client, rec_id: str, address: str, treasury_db_url: str):
    """The open-exceptions row for one reconciliation run, and `python -m cli exceptions` and
    `python -m cli report` as a person runs them, narrowed to that run."""
    query = f"WorkflowId = '{rec_id}'"

    async def listed():
        [row] = await exceptions_table.open_exceptions(client, extra_query=query)
        return row

    row = await assert_eventually(listed, timeout=15)
    env = {"FINSYNC_TREASURY_DB_URL": treasury_db_url}
    exceptions = await asyncio.to_thread(run_module, "cli", "exceptions", "--owner", "treasury-ops", "--query", query,
                                         address=address, env=env)
    status = await asyncio.to_thread(run_module, "cli", "report", "--query", query, address=address, env=env)
    return row, (exceptions, status)


async def _problem_about(registers: PaymentRegisters, text: str) -> None:
    assert any(text in problem for _, problem in registers.message_problems()), registers.message_problems()


async def test_a_report_directory_in_the_input_is_ignored(client, sap_server, bank_server, store, tmp_path):
    """The worker writes where its settings say; an input (an old schedule's, or anyone's who
    can start a workflow) naming a directory does not move the report there."""
    elsewhere = tmp_path / "not-here"
    async with reconciliation_worker(client, sap_server, bank_server, store, tmp_path / "reports") as (worker, _, _):
        report = await client.execute_workflow(
            Reconciliation.run,
            ReconciliationRequest(**SAMPLE_SCOPE, report_dir=str(elsewhere), cleared_lookback_days=1),
            id=f"reconciliation-1710-{uuid.uuid4().hex[:6]}", task_queue=worker.task_queue,
            execution_timeout=timedelta(minutes=1))
    assert Path(report.report_path).parent == tmp_path / "reports" and Path(report.report_path).exists()
    assert not elsewhere.exists()


async def test_reconciliation_runs_on_a_schedule_and_keeps_its_report(client, sap_server, bank_server, store, tmp_path):
    async with reconciliation_worker(client, sap_server, bank_server, store, tmp_path / "reports") as (worker, _, _):
        run, report = await run_scheduled_once(client, Reconciliation.run, ReconciliationRequest(**SAMPLE_SCOPE),
                                               "reconciliation-1710",
                                               worker.task_queue, "30 5 * * *", ReconciliationReport)
    # No report_dir in the request: the worker's default directory.
    assert Path(report.report_path).parent == tmp_path / "reports" and Path(report.report_path).exists()
    assert report.checked["erp_items"] >= 0 and run.id.startswith("reconciliation-1710-")
