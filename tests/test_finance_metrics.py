"""The finance metrics on the worker's Prometheus endpoint after scripted scenarios: a hold
resolved by a person, and a full payment cycle. A client on a runtime of this module's own
(real dev server, mock-sap, mock-bank); samples are picked by the worker's uuid task queue."""

import re
from collections.abc import Awaitable, Callable
from datetime import date

import httpx
import pytest
from temporalio.client import Client

from cli.processes import free_port
from telemetry.metrics import prometheus_runtime
from tests import bank_admin
from tests.helpers import assert_eventually, decide, make_invoice, new_worker, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import InvoiceToPayment

_SAMPLE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@pytest.fixture(scope="module")
def metrics_url() -> tuple[str, object]:
    bind = f"127.0.0.1:{free_port()}"
    return f"http://{bind}/metrics", prometheus_runtime(bind)


@pytest.fixture
async def metrics_client(env, metrics_url) -> Client:
    _, runtime = metrics_url
    return await Client.connect(env.client.service_client.config.target_host, namespace=env.client.namespace,
                                data_converter=env.client.data_converter, runtime=runtime)


def scraper(url: str, task_queue: str) -> Callable[..., Awaitable[float]]:
    """Sum of the samples of `name` on this task queue whose labels include `labels`."""
    async def value(name: str, **labels: str) -> float:
        async with httpx.AsyncClient() as http:
            text = (await http.get(url)).raise_for_status().text
        total = 0.0
        for line in text.splitlines():
            match = _SAMPLE.match(line)
            if not match or match[1] != name:
                continue
            found = dict(_LABEL.findall(match[2] or ""))
            if found.get("task_queue") == task_queue and all(found.get(k) == v for k, v in labels.items()):
                total += float(match[3])
        return total
    return value


async def test_hold_resolved_by_a_person_is_counted(metrics_client, metrics_url, sap_server, store, issuer):
    invoice = make_invoice(bank_account_id="0009")  # the supplier has no account 0009: master data holds it
    async with new_worker(metrics_client, sap_server, store) as worker:
        handle = await metrics_client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                     task_queue=worker.task_queue)
        await wait_for_status(handle, "ON_HOLD")
        await decide(handle, issuer, "resolve", "md.mia", resolution="invoice names account 0001",
                     bank_account_id="0001")
        await wait_for_status(handle, "AWAITING_APPROVAL")  # another payee: approved again
        await decide(handle, issuer, "approve", "ap.bob")
        await wait_for_status(handle, "SCHEDULED")
        await handle.terminate("test done")
    metric = scraper(metrics_url[0], worker.task_queue)

    async def check() -> None:
        assert await metric("finsync_invoices_total") == 1
        assert await metric("finsync_invoices_needing_a_person_total") == 1
        assert await metric("finsync_exception_resolution_seconds_count", owner="master-data",
                            type="MissingBankAccount", closed_by="person") == 1
        assert await metric("finsync_sync_latency_seconds_count", hop="ap_to_erp") == 1
        assert await metric("finsync_sync_latency_seconds_count", hop="erp_to_treasury") == 1
        # Validation is the first step: the invoice was RECEIVED when it failed.
        assert await metric("finsync_lifecycle_exceptions_total", type="MissingBankAccount",
                            owner="master-data", stage="RECEIVED") == 1
        assert await metric("finsync_lifecycle_exceptions_total") == 1
        assert await metric("finsync_lifecycle_stage_entered_total", stage="RECEIVED") == 1  # once, though resumed
        assert await metric("finsync_lifecycle_stage_entered_total", stage="ON_HOLD") == 1
        assert await metric("finsync_cash_outflow_minor_units_total", kind="expected", currency="EUR") == 119000
        assert await metric("finsync_invoice_to_payment_cycle_seconds_count") == 0  # not paid yet

    await assert_eventually(check, timeout=10)


@pytest.mark.clock_sensitive
async def test_payment_cycle_records_cycle_time_and_forecast_error(metrics_client, metrics_url, sap_server, bank_server,
                                                                   store):
    await bank_admin.reset(bank_server)
    invoice = make_invoice(supplier_id="1000013")
    async with new_worker(metrics_client, sap_server, store, bank_url=bank_server) as worker:
        handle = await metrics_client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                     task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(metrics_client, worker.task_queue):
            await pay(metrics_client, worker.task_queue)
            await advance_until(handle, "SETTLED", bank_server)
            view = await advance_until(handle, "COMPLETED", bank_server)
    metric = scraper(metrics_url[0], worker.task_queue)
    [payment] = await bank_admin.payments_for(bank_server, view.payment_attempts[0].end_to_end_id)
    settled_on = date.fromisoformat(payment["settlement_date"])  # the bank's value date

    async def check() -> None:
        assert await metric("finsync_invoice_to_payment_cycle_seconds_count") == 1
        cycle = await metric("finsync_invoice_to_payment_cycle_seconds_sum")
        assert 0 < cycle <= (view.history[-1].at - view.history[0].at).total_seconds() + 1
        # Paid in a run ahead of the due date: early, by the days between due and booking.
        assert await metric("finsync_cash_forecast_error_days_count", direction="early", currency="EUR") == 1
        early = await metric("finsync_cash_forecast_error_days_sum", direction="early")
        assert early == (invoice.net_due_date - settled_on).days > 0
        assert await metric("finsync_cash_outflow_minor_units_total", kind="actual", currency="EUR") == 119000
        assert await metric("finsync_lifecycle_exceptions_total") == 0
        assert await metric("finsync_invoices_needing_a_person_total") == 0

    await assert_eventually(check, timeout=10)
