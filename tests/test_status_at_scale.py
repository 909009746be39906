"""`python -m cli status`, `report` and `exceptions` at scale (issue 11, item 8): a few hundred
lifecycles on the dev server, half of them with an open case, counted by the calls the client
makes. They read visibility a page at a time (list calls grow with pages, not with lifecycles),
count the open cases by owner and SLA state (count calls grow with owners, not with cases),
query no lifecycle, and give the same numbers as the lifecycles started. No worker: the
lifecycles only sit in visibility with their search attributes, as they would while waiting
for weeks. A lifecycle whose case opened before it wrote the SLA there is the only one asked."""

import asyncio
import math
import uuid
from collections import Counter
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from adapters.payment_registers import PaymentRegisters
from canonical.exceptions import ExceptionOwner
from canonical.payment import PaymentRecord
from reports import exceptions_table, status_report
from reports.sla_buckets import SlaLine
from reports.status_table import lifecycle_query, render, status_rows
from tests.call_counter import CallCounter
from tests.clock import profile
from tests.helpers import assert_eventually, run_module
from workflows import search_attributes as sa

LIFECYCLES = 300
PAGE = 100
STATES = ("SCHEDULED", "SENT_TO_BANK", "SETTLED", "AWAITING_APPROVAL")
OWNERS = [owner.value for owner in ExceptionOwner]
# The report's "now": one pinned moment, the cases' due dates around it, whatever the hour.
NOW = profile().moment.replace(tzinfo=UTC)


def case_of(n: int) -> tuple[str, str, int] | None:
    """Every second lifecycle has a case: (owner, SLA bucket at NOW, its number); uneven over
    owners and buckets, so counts swapped between them would show."""
    if n % 2:
        return None
    i = n // 2
    return OWNERS[min(i % 7, len(OWNERS) - 1)], ("within", "overdue", "escalated")[(i // 7 + i % 2) % 3], i


def case_attributes(owner: str, bucket: str, i: int) -> list[SearchAttributePair]:
    """What a lifecycle writes for its shown case (workflows/lifecycle_state.py)."""
    due = {"within": NOW + timedelta(hours=1, minutes=i), "overdue": NOW - timedelta(minutes=1 + i),
           # an escalated case has a new due date, in the future or passed again: still escalated
           "escalated": NOW + (timedelta(hours=2) if i % 2 else -timedelta(hours=2))}[bucket]
    return [SearchAttributePair(sa.EXCEPTION_OWNER, owner), SearchAttributePair(sa.EXCEPTION_TYPE, f"Case{i % 3}"),
            SearchAttributePair(sa.CASE_OPENED_AT, NOW - timedelta(days=2, minutes=i)),
            SearchAttributePair(sa.CASE_DUE_AT, due),
            SearchAttributePair(sa.CASE_ESCALATED, bucket == "escalated"),
            SearchAttributePair(sa.CASE_SEVERITY, "high" if bucket == "escalated" else "medium")]


def expected_lines(*extra: tuple[str, str]) -> list[SlaLine]:
    counts: dict[str, Counter[str]] = {}
    for owner, bucket in [c[:2] for c in map(case_of, range(LIFECYCLES)) if c] + list(extra):
        counts.setdefault(owner, Counter())[bucket] += 1
    return [SlaLine(owner=owner, **c) for owner, c in sorted(counts.items())]


@pytest.fixture
async def lifecycles(client: Client):
    """LIFECYCLES stand-ins under a company code of their own, on a task queue nobody polls."""
    company = f"T{uuid.uuid4().hex[:8]}"
    nobody, gate = f"no-worker-{company}", asyncio.Semaphore(20)
    keys = [f"{company}-1000013-SCALE-{n:04d}" for n in range(LIFECYCLES)]

    async def start(n: int, key: str):
        case = case_of(n)
        attrs = TypedSearchAttributes([SearchAttributePair(sa.INVOICE_ID, key),
                                       SearchAttributePair(sa.COMPANY_CODE, company),
                                       SearchAttributePair(sa.INVOICE_STATUS, STATES[n % len(STATES)]),
                                       *(case_attributes(*case) if case else [])])
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
        report = await status_report.collect(client, store, now=NOW, extra_query=narrow, page_size=PAGE)
    with CallCounter(client) as table_calls:
        cases = await exceptions_table.open_exceptions(client, extra_query=narrow)

    # Pages, plus at most one empty page after a full last one; never a query to a lifecycle.
    assert pages <= status_calls.calls["list_workflow_executions"] <= pages + 1, status_calls.calls
    assert status_calls.calls["query_workflow"] == 0
    # The report's lifecycle pages, one list of the cases visibility can not count (none here) and
    # one of reconciliations; one count of the cases it can, then one per owner and SLA state.
    assert report_calls.calls["list_workflow_executions"] <= pages + 1 + 2, report_calls.calls
    assert report_calls.calls["count_workflow_executions"] == 1 + 3 * len(OWNERS), report_calls.calls
    assert report_calls.calls["query_workflow"] == 0
    # The exceptions table: one page of cases (up to 1,000 a page), one list of reconciliations.
    assert table_calls.calls == Counter(list_workflow_executions=2), table_calls.calls

    # Open cases by owner and SLA state, as the lifecycles wrote them.
    assert report.open_cases == expected_lines()
    most = max(report.open_cases, key=lambda line: line.open)  # every case from the 5th of 7 on
    assert (most.owner, most.open, most.within, most.overdue, most.escalated) == ("integration-ops", 63, 21, 20, 22)
    assert len(cases) == LIFECYCLES // 2
    by_owner: dict[str, Counter[str]] = {}
    for row in cases:
        by_owner.setdefault(row.owner, Counter())[row.sla_bucket(NOW)] += 1
    assert [SlaLine(owner=o, **c) for o, c in sorted(by_owner.items())] == expected_lines()
    first = next(r for r in cases if r.subject == keys[0])  # case 0: ap-remediation, within SLA
    assert (first.owner, first.type, first.severity, first.opened_at, first.sla_due_at, first.escalated) == (
        "ap-remediation", "Case0", "medium", NOW - timedelta(days=2), NOW + timedelta(hours=1), False)
    assert first.sla_state(NOW) == "within SLA (1h 0m left)"
    owner_line = next(line for line in status_report.render(report).splitlines() if line.startswith("integration-ops"))
    assert owner_line.split() == ["integration-ops", "63", "21", "20", "22", "0"]  # open, within, overdue, escalated

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


async def test_only_cases_opened_before_the_sla_attributes_are_asked(client, store):
    """Lifecycles whose case opened before they wrote its SLA into search attributes (owner and
    type only) are asked one by one, and only they: no worker answers here, so they count as
    cases without an SLA, beside the cases visibility counts."""
    company = f"T{uuid.uuid4().hex[:8]}"
    nobody = f"no-worker-{company}"
    legacy = [("treasury-ops", "BankSilent"), ("treasury-ops", "NotCleared"), ("master-data", "SupplierBlocked")]
    carried = [("treasury-ops", "overdue", 1), ("buyer", "within", 2)]
    attrs = [[SearchAttributePair(sa.EXCEPTION_OWNER, owner), SearchAttributePair(sa.EXCEPTION_TYPE, kind)]
             for owner, kind in legacy] + [case_attributes(*case) for case in carried]
    handles = [await client.start_workflow(
        "InvoiceToPayment", {}, id=f"invoice-{company}-1000013-OLD-{n}", task_queue=nobody,
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.COMPANY_CODE, company), *pairs]))
        for n, pairs in enumerate(attrs)]
    narrow = f"{sa.COMPANY_CODE.name}='{company}'"
    try:
        async def all_visible():
            assert (await client.count_workflows(exceptions_table.case_query(extra_query=narrow))).count == 5

        await assert_eventually(all_visible, timeout=30)
        with CallCounter(client) as report_calls:
            report = await status_report.collect(client, store, now=NOW, extra_query=narrow)
        with CallCounter(client) as table_calls:
            rows = await exceptions_table.open_exceptions(client, extra_query=narrow)
    finally:
        for handle in handles:
            await handle.terminate("test done")

    assert report_calls.calls["query_workflow"] == len(legacy) == table_calls.calls["query_workflow"]
    assert report.open_cases == [SlaLine(owner="buyer", within=1), SlaLine(owner="master-data", none=1),
                                 SlaLine(owner="treasury-ops", overdue=1, none=2)]
    asked = sorted((r.owner, r.type, r.sla_bucket(NOW)) for r in rows if "status not available" in r.reason)
    assert asked == sorted((owner, kind, "none") for owner, kind in legacy)
    assert sorted((r.owner, r.sla_bucket(NOW)) for r in rows if not r.reason) == [("buyer", "within"),
                                                                                   ("treasury-ops", "overdue")]
