"""`python -m cli status|exceptions|report --company CODE` against the session's dev server: one
legal entity's lifecycles (CompanyCode in visibility) and cash position, as a person runs them.
The lifecycles are parked on a task queue no worker serves: the commands read visibility and the
treasury store only, never a lifecycle."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from adapters.treasury_store import TreasuryStore
from canonical.invoice import Invoice
from canonical.treasury import ExpectedOutflow
from tests.clock import business_today
from tests.helpers import assert_eventually, invoice_json, run_module, unique_ref
from workflows import search_attributes as sa


def ids_query(handles: list[WorkflowHandle]) -> str:
    return "WorkflowId IN (" + ", ".join(f"'{h.id}'" for h in handles) + ")"


@pytest.fixture
async def two_companies(client: Client, store: TreasuryStore) -> AsyncIterator[list[WorkflowHandle]]:
    """A SCHEDULED 1710 invoice and a 2710 one ON_HOLD for master data, with their outflows."""
    now, queue = datetime.now(UTC), f"nobody-{uuid.uuid4().hex[:8]}"
    handles = []
    for code, supplier, status, owner in (("1710", "1000013", "SCHEDULED", None),
                                          ("2710", "2700001", "ON_HOLD", "master-data")):
        invoice = Invoice.model_validate(invoice_json(supplier_id=supplier, ref=unique_ref(), company_code=code))
        pair = SearchAttributePair
        attrs: list[SearchAttributePair] = [pair(sa.COMPANY_CODE, code), pair(sa.INVOICE_STATUS, status),
                                            pair(sa.INVOICE_ID, invoice.key), pair(sa.SUPPLIER_ID, supplier)]
        if owner:
            attrs += [pair(sa.EXCEPTION_OWNER, owner), pair(sa.EXCEPTION_TYPE, "InvalidBankAccount"),
                      pair(sa.CASE_OPENED_AT, now), pair(sa.CASE_DUE_AT, now + timedelta(hours=48)),
                      pair(sa.CASE_SEVERITY, "medium")]
        handles.append(await client.start_workflow("InvoiceToPayment", invoice, id=invoice.workflow_id,
                                                   task_queue=queue, search_attributes=TypedSearchAttributes(attrs)))
        store.upsert_expected_outflow(ExpectedOutflow(
            invoice_key=invoice.key, company_code=code, supplier_id=supplier, currency="EUR",
            amount=invoice.gross_amount, value_date=business_today() + timedelta(days=30)))

    async def visible() -> None:
        assert len([ex async for ex in client.list_workflows(ids_query(handles))]) == 2

    await assert_eventually(visible, timeout=20)
    yield handles
    for handle in handles:
        await handle.terminate("test done")


async def test_status_exceptions_and_report_narrow_to_one_company(two_companies, store, temporal_address):
    env = {"FINSYNC_TREASURY_DB_URL": store.engine.url.render_as_string(hide_password=False)}
    only = ids_query(two_companies)

    def cli(*args: str):
        return run_module("cli", *args, "--query", only, address=temporal_address, env=env)

    commands = (("status", "--company", "2710"), ("status",), ("exceptions", "--company", "2710"),
                ("exceptions", "--company", "1710"), ("report", "--company", "2710"),
                ("status", "--company", "17' OR '1"))
    status, every, exceptions, none_in_1710, report, bad = await asyncio.gather(
        *(asyncio.to_thread(cli, *args) for args in commands))
    for done in (status, every, exceptions, none_in_1710, report):
        assert done.returncode == 0, done.stderr
    assert [line.split()[:2] for line in status.stdout.splitlines()[1:]] == [
        [two_companies[1].id.removeprefix("invoice-"), "ON_HOLD"]], status.stdout
    assert {line.split()[0][:4] for line in every.stdout.splitlines()[1:]} == {"1710", "2710"}, every.stdout
    assert "master-data" in exceptions.stdout and "InvalidBankAccount" in exceptions.stdout, exceptions.stdout
    assert none_in_1710.stdout.strip() == "no open exceptions", none_in_1710.stdout
    # The report: 2710's state and case, and its cash position only.
    assert "ON_HOLD" in report.stdout and "SCHEDULED" not in report.stdout, report.stdout
    cash = report.stdout.split("Cash position", 1)[1]
    assert "2710     EUR" in cash and "1710" not in cash, report.stdout
    assert Decimal(cash.split("2710     EUR", 1)[1].split()[-1]) == Decimal("1190.00")
    # A company code is letters and digits: it can not widen the visibility query.
    assert bad.returncode == 2 and "is no company code" in bad.stderr
