"""`python -m cli status` and `report` at scale (issue 11, item 8): a few hundred lifecycles on
the dev server, counted by the calls the client makes. Both read visibility a page at a time
(list calls grow with pages, not with lifecycles), neither queries a lifecycle, and both give
the same numbers as the lifecycles started. No worker: the lifecycles only sit in visibility
with their search attributes, as they would while waiting for weeks."""

import asyncio
import math
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from adapters.payment_registers import PaymentRegisters
from canonical.payment import PaymentRecord
from reports import status_report
from reports.status_table import lifecycle_query, render, status_rows
from tests.helpers import assert_eventually, run_module
from workflows import search_attributes as sa

LIFECYCLES = 300
PAGE = 100
STATES = ("SCHEDULED", "SENT_TO_BANK", "SETTLED", "AWAITING_APPROVAL")


class CallCounter:
    """Counts the client's visibility lists and workflow queries while it is installed."""

    def __init__(self, client: Client) -> None:
        self.service, self.calls = client.workflow_service, Counter()
        self._originals = {}

    def __enter__(self) -> "CallCounter":
        for name in ("list_workflow_executions", "query_workflow"):
            original = self._originals[name] = getattr(self.service, name)

            async def counted(*args, _name=name, _original=original, **kwargs):
                self.calls[_name] += 1
                return await _original(*args, **kwargs)
            setattr(self.service, name, counted)
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._originals.items():
            setattr(self.service, name, original)


@pytest.fixture
async def lifecycles(client: Client):
    """LIFECYCLES stand-ins under a company code of their own, on a task queue nobody polls."""
    company = f"T{uuid.uuid4().hex[:8]}"
    nobody, gate = f"no-worker-{company}", asyncio.Semaphore(20)
    keys = [f"{company}-1000013-SCALE-{n:04d}" for n in range(LIFECYCLES)]

    async def start(n: int, key: str):
        attrs = TypedSearchAttributes([SearchAttributePair(sa.INVOICE_ID, key),
                                       SearchAttributePair(sa.COMPANY_CODE, company),
                                       SearchAttributePair(sa.INVOICE_STATUS, STATES[n % len(STATES)])])
        async with gate:
            return await client.start_workflow("InvoiceToPayment", {}, id=f"invoice-{key}", task_queue=nobody,
                                               search_attributes=attrs)

    handles = await asyncio.gather(*(start(n, key) for n, key in enumerate(keys)))
    query = lifecycle_query(f"{sa.COMPANY_CODE.name}='{company}'")

    async def all_visible():
        assert (await client.count_workflows(query)).count == LIFECYCLES

    await assert_eventually(all_visible, timeout=60)
    yield company, keys
    await asyncio.gather(*(_terminate(h, gate) for h in handles))


async def _terminate(handle, gate: asyncio.Semaphore) -> None:
    async with gate:
        await handle.terminate("test done")


async def test_status_and_report_read_pages_not_lifecycles(client, store, lifecycles, temporal_address):
    company, keys = lifecycles
    paid = keys[:40]  # in a payment run: their detail comes from the treasury store
    PaymentRegisters(store.engine).register_payments([PaymentRecord(
        end_to_end_id=f"{key}/{attempt}", invoice_key=key, workflow_id=f"invoice-{key}", run_key="ACME-20261127-1",
        message_id=f"MSG-{attempt}", payment_info_id="P", attempt=attempt, amount=Decimal("10.00"), currency="EUR",
        remittance_reference=key, accounting_document="5100000001") for key in paid for attempt in (1, 2)])
    narrow = f"{sa.COMPANY_CODE.name}='{company}'"
    pages = math.ceil(LIFECYCLES / PAGE)

    with CallCounter(client) as status_calls:
        rows = await status_rows(client, store.engine, narrow, page_size=PAGE)
    with CallCounter(client) as report_calls:
        report = await status_report.collect(client, store, extra_query=narrow, page_size=PAGE)

    # Pages, plus at most one empty page after a full last one; never a query to a lifecycle.
    assert pages <= status_calls.calls["list_workflow_executions"] <= pages + 1, status_calls.calls
    assert status_calls.calls["query_workflow"] == 0
    # The report's lifecycle pages, one list of open cases (none here) and one of reconciliations.
    assert report_calls.calls["list_workflow_executions"] <= pages + 1 + 2, report_calls.calls
    assert report_calls.calls["query_workflow"] == 0

    expected = Counter(STATES[n % len(STATES)] for n in range(LIFECYCLES))
    assert Counter(r[1] for r in rows) == expected
    assert {s.state: s.count for s in report.states} == dict(expected)
    by_key = {r[0]: r for r in rows}
    assert len(by_key) == LIFECYCLES
    assert by_key[paid[0]][2:6] == ("5100000001", "2", f"{paid[0]}/2", "MSG-2")  # the newest attempt
    assert by_key[keys[-1]][2:6] == ("-", "-", "-", "-")
    assert render(rows).splitlines()[0].split()[:2] == ["INVOICE", "STATUS"]

    # The command as a person runs it: the same table.
    printed = await asyncio.to_thread(run_module, "cli", "status", "--query", narrow, address=temporal_address,
                                      env={"FINSYNC_TREASURY_DB_URL": str(store.engine.url)})
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0].split()[0] == "INVOICE" and len(lines) == LIFECYCLES + 1
    assert f"{paid[0]}/2" in next(line for line in lines if line.startswith(paid[0] + " "))
