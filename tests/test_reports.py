"""The people-facing reports against a real dev server: open exceptions with age and SLA
state (in-process and as the command a person runs), and the status report's counts, cycle
time and cash position for a small scenario."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from canonical.commands import LifecyclePolicy
from canonical.exceptions import ExceptionOwner
from canonical.invoice import Invoice
from canonical.reconciliation import Drift, DriftKind, ReconciliationReport, ReconciliationRequest
from canonical.treasury import ExpectedOutflow, OutflowState
from reports import exceptions_table, status_report
from reports.sla_buckets import SlaLine
from tests import bank_admin
from tests.call_counter import CallCounter
from tests.clock import business_today, profile
from tests.helpers import (
    assert_eventually,
    decide,
    invoice_json,
    make_invoice,
    new_worker,
    run_module,
    unique_ref,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment
from workflows.reconciliation import Reconciliation

# The embedded stack's 1710 paying from ACME (a request without them reconciles every legal entity).
SAMPLE_SCOPE = {"company_code": "1710", "paying_account_id": "ACME"}


def ids_query(*workflow_ids: str) -> str:
    return "WorkflowId IN (" + ", ".join(f"'{i}'" for i in workflow_ids) + ")"


async def start(client, worker, invoice: Invoice, **kwargs):
    return await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                       task_queue=worker.task_queue, **kwargs)


async def test_exceptions_table_shows_held_invoices_with_owner_age_and_sla_state(client, sap_server, store,
                                                                                 temporal_address, issuer):
    missing_account = Invoice.model_validate(invoice_json(bank_account_id="0009"))  # master-data, SLA 48 h
    unknown_supplier = Invoice.model_validate(invoice_json(supplier_id="9999998"))  # master-data, SLA 2 s: escalates
    async with new_worker(client, sap_server, store) as worker:
        held = await start(client, worker, missing_account)
        escalating = await start(client, worker, unknown_supplier,
                                 memo={POLICY_MEMO: LifecyclePolicy(exception_sla_hours=2 / 3600)})
        await wait_for_status(held, "ON_HOLD")
        query = ids_query(held.id, escalating.id)

        async def both_listed():
            rows = await exceptions_table.open_exceptions(client, extra_query=query)
            assert [r.escalated for r in sorted(rows, key=lambda r: r.type)] == [False, True], rows
            return rows

        with CallCounter(client) as calls:
            rows = await assert_eventually(both_listed, timeout=20)
        mine = await exceptions_table.open_exceptions(client, owner="master-data", extra_query=query)
        others = await exceptions_table.open_exceptions(client, owner="treasury-ops", extra_query=query)
        printed = await asyncio.to_thread(run_module, "reports.exceptions_table", "--owner", "master-data",
                                          address=temporal_address)
        case = (await held.query(InvoiceToPayment.status)).open_exception
        # Closing the case takes its SLA out of visibility with it.
        await decide(held, issuer, "cancel", "ap.alice", reason="duplicate")
        await held.result()
        cancelled = (await held.describe()).typed_search_attributes
        await escalating.terminate("test done")

    # The lifecycles wrote their cases' SLA into search attributes: nobody asked them.
    assert calls.calls["query_workflow"] == 0, calls.calls
    [shown] = [r for r in rows if r.workflow_id == held.id]
    assert case is not None and (shown.opened_at, shown.sla_due_at, shown.severity, shown.escalated) == (
        case.opened_at, case.sla_due_at, case.severity.value, False)
    assert [cancelled.get(key) for key in (sa.EXCEPTION_OWNER, *sa.CASE_SLA)] == [None] * 5
    assert len(mine) == 2 and others == []
    text = exceptions_table.render(rows)
    lines = {line.split()[2]: line for line in text.splitlines()[1:]}
    assert "master-data  MissingBankAccount" in lines[missing_account.key]
    assert "within SLA (1d 23h left)" in lines[missing_account.key]
    assert "UnknownSupplier" in lines[unknown_supplier.key] and "escalated" in lines[unknown_supplier.key]
    assert printed.returncode == 0, printed.stderr
    assert any(missing_account.key in line and "within SLA" in line
               for line in printed.stdout.splitlines()), printed.stdout


def test_sla_states_read_like_a_person_says_them():
    now = datetime(2026, 10, 1, 12, tzinfo=UTC)
    row = exceptions_table.ExceptionRow(workflow_id="w", subject="s", type="t", owner="o",
                                        opened_at=now - timedelta(hours=50),
                                        sla_due_at=now - timedelta(hours=2, minutes=5))
    assert row.sla_state(now) == "overdue by 2h 5m" and row.sla_bucket(now) == "overdue"
    assert "2d 2h" in exceptions_table.render([row], now)


def next_business_day(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@pytest.mark.clock_sensitive
async def test_status_report_counts_cycle_time_and_cash_position(client, sap_server, bank_server, store):
    await bank_admin.reset(bank_server)
    paid = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    waiting = Invoice.model_validate(invoice_json(supplier_id="1000013", net_amount="100.00", tax_amount="0.00",
                                                  gross_amount="100.00",
                                                  lines=[{"line_no": 1, "description": "x", "net_amount": "100.00"}]))
    held = Invoice.model_validate(invoice_json(bank_account_id="0009"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        paid_handle = await start(client, worker, paid)
        await wait_for_status(paid_handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue)
            await advance_until(paid_handle, "COMPLETED", bank_server)
        handles = [paid_handle, await start(client, worker, waiting), await start(client, worker, held)]
        await wait_for_status(handles[1], "SCHEDULED")
        await wait_for_status(handles[2], "ON_HOLD")
        # Treasury's rows today beside the lifecycles' own: an expected one and one overdue.
        today = business_today()  # the day the run paid on: the cash position is asked for that day
        for key, amount, day in ((f"1710-X-{unique_ref()}", "10.00", today),
                                 (f"1710-X-{unique_ref()}", "5.50", today - timedelta(days=3))):
            store.upsert_expected_outflow(ExpectedOutflow(invoice_key=key, company_code="1710", supplier_id="X",
                                                          currency="EUR", amount=Decimal(amount), value_date=day))

        async def settled():
            report = await status_report.collect(client, store, today=today,
                                                 extra_query=ids_query(*(h.id for h in handles)))
            counts = {s.state: s.count for s in report.states}
            assert counts == {"COMPLETED": 1, "ON_HOLD": 1, "SCHEDULED": 1}, report.states
            assert report.open_cases == [SlaLine(owner="master-data", within=1)]  # the held one, SLA 48 h
            return report

        report = await assert_eventually(settled, timeout=20)
        for handle in handles[1:]:
            await handle.terminate("test done")

    assert [s.oldest_invoice for s in report.states] == [paid.key, held.key, waiting.key]
    [cycle] = report.cycle_times
    assert timedelta(0) < cycle < timedelta(minutes=2)
    [cash] = report.cash
    # Actual on the bank's value date, as the inbox read it from the camt.054: the run's day when
    # the bank books a payment on receipt, else its next business day (a Sunday evening's run).
    settle_day = today if profile().books_on_receipt else next_business_day(today)
    actual = store.get_outflow(paid.key)
    assert (actual.state, actual.value_date) == (OutflowState.ACTUAL, settle_day), actual
    actual_today = Decimal("1190.00") if settle_day == today else Decimal("0.00")
    assert (cash.actual_today, cash.expected_today, cash.expected_overdue) == (actual_today, Decimal("10.00"),
                                                                               Decimal("5.50"))
    assert cash.expected_later == Decimal("100.00")  # the waiting invoice, due in 30 days
    text = status_report.render(report)
    for expected in ("COMPLETED  1", "ON_HOLD    1", "SCHEDULED  1", "over 1 completed: p50",
                     f"1710     EUR       {actual_today}", "master-data"):
        assert expected in text, text


def test_percentiles_are_observed_cycle_times():
    times = [timedelta(seconds=s) for s in range(1, 21)]
    assert status_report.percentile(times, 50) == timedelta(seconds=10)
    assert status_report.percentile(times, 95) == timedelta(seconds=19)
    assert status_report.percentile([], 50) is None


def test_a_kept_reconciliation_report_prints(tmp_path, capsys):
    drift = Drift(kind=DriftKind.PAID_TWICE, key="1710-1-A", detail="paid twice", owner=ExceptionOwner.TREASURY_OPS,
                  amount=Decimal("1.10"), currency="EUR")
    report = ReconciliationReport(company_code="1710", paying_account_id="ACME", run_at=datetime.now(UTC),
                                  workflow_id="w", run_id="r", drifts=[drift])
    path = tmp_path / "reconciliation-2026-10-01-r.json"
    path.write_text(report.model_dump_json())
    assert status_report.main(["--reconciliation", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PAID_TWICE  treasury-ops  open   1710-1-A  1.10 EUR" in out and "1 drifts: 0 healed, 1 for people" in out


async def test_reports_survive_a_reconciliation_that_ended_badly_and_a_case_nobody_answers_for(client, store,
                                                                                               temporal_address):
    """No worker at all: a reconciliation that runs (nothing to say yet), then is terminated (a
    case: its drifts are unknown), and a lifecycle whose search attributes name a case but whose
    status query nobody answers. Both reports list what they can and say what they can not."""
    nobody = f"no-worker-{uuid.uuid4().hex[:8]}"
    reconciliation = await client.start_workflow(Reconciliation.run, ReconciliationRequest(**SAMPLE_SCOPE),
                                                 task_queue=nobody,
                                                 id=f"reconciliation-1710-{uuid.uuid4().hex[:6]}")
    invoice = make_invoice()
    case = TypedSearchAttributes([SearchAttributePair(sa.EXCEPTION_OWNER, "treasury-ops"),
                                  SearchAttributePair(sa.EXCEPTION_TYPE, "BankSilent")])
    lifecycle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id, task_queue=nobody,
                                            search_attributes=case)
    query = ids_query(reconciliation.id, lifecycle.id)
    try:
        async def lifecycle_only():
            rows = await exceptions_table.open_exceptions(client, extra_query=query)
            assert [(r.type, r.workflow_id) for r in rows] == [("BankSilent", lifecycle.id)], rows
            return rows

        [unanswered] = await assert_eventually(lifecycle_only, timeout=30)
        await reconciliation.terminate("stopped by an operator")

        async def both():
            rows = await exceptions_table.open_exceptions(client, owner="treasury-ops", extra_query=query)
            assert sorted(r.type for r in rows) == ["BankSilent", "ReconciliationFailed"], rows
            return rows

        rows = await assert_eventually(both, timeout=30)
        report = await status_report.collect(client, store, extra_query=query)
        printed = await asyncio.to_thread(run_module, "cli", "exceptions", "--query", query, address=temporal_address)
    finally:
        await lifecycle.terminate("test done")
    assert "status not available" in unanswered.reason
    [failed] = [r for r in rows if r.type == "ReconciliationFailed"]
    assert failed.workflow_id == reconciliation.id and "ended terminated" in failed.reason and failed.severity == "high"
    # The lifecycle's case has no SLA in visibility (as one opened before lifecycles wrote it) and
    # nobody answers for it: no SLA. The failed reconciliation is due a day after it ended.
    assert report.open_cases == [SlaLine(owner="treasury-ops", within=1, none=1)]
    assert "treasury-ops  2" in status_report.render(report)
    assert printed.returncode == 0, printed.stderr
    assert "ReconciliationFailed" in printed.stdout and "status not available" in printed.stdout, printed.stdout


async def test_make_up_prints_a_failed_report_and_keeps_the_stack(capsys):
    from cli.stack import _print_report

    class ServerGone:  # the Temporal client of a stack whose server stopped answering mid-report
        def list_workflows(self, query: str, **options):  # page_size, as the SDK takes it
            raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    await _print_report(ServerGone())  # returns: `up` goes on to the guide and keeps running
    printed = capsys.readouterr()
    assert "status report failed (RPCError: connection refused); the stack keeps running" in printed.err
    assert printed.out == ""
