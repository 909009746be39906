"""Near-duplicate invoices are caught before posting (workflows/near_duplicates.py): on the
real dev server and mock-sap, `DUP-9001` then `dup 9001` of one supplier and amount posts once
until AP confirms the second is a different invoice. The rules themselves are pure functions,
tested first. The session's ERP holds many invoices of the suite's amount and date, so these
tests use an amount of their own."""

import asyncio
import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest, ListWorkflowExecutionsResponse
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.converter import DataConverter

from canonical.duplicates import MATCH_DATE, MATCH_REFERENCE, OtherInvoice, loose_reference, near_duplicates
from canonical.invoice import Invoice
from tests import sap_admin
from tests.clock import business_today
from tests.helpers import assert_eventually, decision_input, invoice_json, new_worker, wait_for_status
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment


@pytest.mark.parametrize("one, other", [
    ("DUP-9001", "dup 9001"), ("INV-0042/7", "inv 42 7"), ("INV-0042/7", "INV42.07"), ("A10-01", "A10-1"),
    ("GLX_2026-0417", "glx 2026 417"), ("00123", "123"), ("X-0", "x 000"), ("Rechnung Nr. 5", "RECHNUNGNR5"),
])
def test_references_equal_but_for_punctuation_leading_zeros_and_case(one, other):
    assert loose_reference(one) == loose_reference(other)


@pytest.mark.parametrize("one, other", [
    ("A10-01", "A1001"),  # zeros go per group of digits: 10-01 is not 1001
    ("INV-42", "INV-43"), ("INV-420", "INV-42"), ("A-1", "B-1"), ("INV-1", "INV-1A"),
])
def test_references_that_differ_in_a_letter_or_digit_stay_apart(one, other):
    assert loose_reference(one) != loose_reference(other)


def other(reference: str, amount: str = "500.00", invoice_date: date | None = None, currency: str = "EUR"):
    return OtherInvoice(source="erp", document=f"51{uuid.uuid4().hex[:6]}/2026", reference=reference,
                        invoice_date=invoice_date, gross_amount=Decimal(amount), currency=currency)


def test_the_rules_on_amount_reference_and_date():
    mine = Invoice.model_validate(invoice_json(ref="DUP-9001", net_amount="500.00", tax_amount="0.00",
                                               gross_amount="500.00", invoice_date="2026-10-07",
                                               lines=[{"line_no": 1, "description": "x", "net_amount": "500.00"}]))
    day, next_day = date(2026, 10, 7), date(2026, 10, 8)
    candidates = [other("dup 9001", invoice_date=next_day), other("DUP9001-", invoice_date=next_day),
                  other("DUP-9001", invoice_date=day),  # the exact key: this invoice itself, never a near duplicate
                  other("dup 9001", amount="500.01"), other("dup 9001", currency="USD"),  # another amount
                  other("OTHER-1", invoice_date=day), other("OTHER-2", invoice_date=next_day)]
    found = near_duplicates(mine, candidates, "reference-or-date")
    assert [(o.reference, o.matched_on) for o in found] == [
        ("dup 9001", MATCH_REFERENCE), ("DUP9001-", MATCH_REFERENCE), ("OTHER-1", MATCH_DATE)]
    assert [o.reference for o in near_duplicates(mine, candidates, "reference")] == ["dup 9001", "DUP9001-"]
    assert near_duplicates(mine, candidates, "off") == []
    assert "same amount and invoice date" in found[2].described() and found[2].document in found[2].described()


# -- on the dev server and mock-sap ------------------------------------------------------


def an_amount() -> str:
    """One no other test uses (the date rule compares every invoice of the supplier that day),
    below the AP platform's trusted amount, so the signed approval suffices (canonical/controls.py)."""
    return f"{random.randint(2_000, 9_899)}.{random.randint(1, 99):02d}"




def invoice(ref: str, amount: str, **overrides) -> Invoice:
    return Invoice.model_validate(invoice_json(ref=ref, net_amount=amount, tax_amount="0.00", gross_amount=amount,
                                               lines=[{"line_no": 1, "description": "Services", "net_amount": amount}],
                                               **overrides))


async def start(client: Client, worker, inv: Invoice):
    return await client.start_workflow(InvoiceToPayment.run, inv, id=inv.workflow_id, task_queue=worker.task_queue)


async def test_dup_9001_then_dup_space_9001_holds_the_second_until_ap_confirms_it_is_distinct(client, sap_server,
                                                                                            store, issuer):
    amount = an_amount()
    first, second = invoice("DUP-9001", amount), invoice("dup 9001", amount)
    assert first.key != second.key  # two business keys: two lifecycles, the ERP lookup can not tell
    async with new_worker(client, sap_server, store, near_duplicate_check="reference-or-date") as worker:
        one = await start(client, worker, first)
        posted = await wait_for_status(one, "SCHEDULED")
        two = await start(client, worker, second)
        held = await wait_for_status(two, "ON_HOLD")
        described = await two.describe()
        in_erp_while_held = await sap_admin.references_of(sap_server, "1000013")
        with pytest.raises(WorkflowUpdateFailedError):  # not a hold `resolve` ends
            await two.execute_update(InvoiceToPayment.resolve, decision_input(
                issuer, two.id, "resolve", "ap.alice", resolution="looked at it"))
        with pytest.raises(WorkflowUpdateFailedError):  # the first is not held: nothing to confirm
            await one.execute_update(InvoiceToPayment.confirm_not_duplicate, decision_input(
                issuer, one.id, "confirm_not_duplicate", "ap.alice", note="x"))
        with pytest.raises(WorkflowUpdateFailedError) as typed:  # a name proves nobody
            await two.execute_update("confirm_not_duplicate", {"confirmed_by": "ap.alice", "note": "x"})
        case_id = await two.execute_update(InvoiceToPayment.confirm_not_duplicate, decision_input(
            issuer, two.id, "confirm_not_duplicate", "ap.alice", note="supplier confirmed two deliveries"))
        confirmed = await wait_for_status(two, "SCHEDULED")
        for handle in (one, two):
            await handle.terminate("test done")
    case = held.open_exception
    doc = posted.erp_document.invoice_document
    assert (case.type, case.owner.value) == ("PossibleDuplicate", "ap-remediation") and case.case_id == case_id
    assert f"ERP document {doc}/" in case.reason and "reference DUP-9001" in case.reason, case.reason
    assert "same reference" in case.reason, case.reason
    assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) == "PossibleDuplicate"
    assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) == "ap-remediation"
    assert held.erp_document is None and in_erp_while_held.count("DUP-9001") == 1
    assert "DUP9001" not in in_erp_while_held  # SAP had one posting while the second was held
    assert [await _count(sap_server, ref) for ref in ("DUP-9001", "DUP9001")] == [1, 1]  # confirmed: posted once
    closed = [c for c in confirmed.closed_exceptions if c.case_id == case_id]
    assert closed and closed[0].resolved_by == "ap.alice" and "supplier confirmed" in closed[0].resolution
    assert "token" in str(typed.value.cause)
    assert [(d.action, d.who) for d in confirmed.decisions if d.action == "confirm_not_duplicate"] == [
        ("confirm_not_duplicate", "ap.alice")]
    assert confirmed.erp_document is not None and confirmed.erp_document.invoice_document != doc


async def _count(sap_url: str, reference: str) -> int:
    return len(await sap_admin.invoices_in_erp(sap_url, "1000013", reference))


async def test_an_unposted_lifecycle_of_the_same_amount_and_date_holds_the_next_which_ap_cancels(client,
                                                                                              sap_server, store,
                                                                                              issuer):
    """Found among the running lifecycles (one awaiting approval is in no ERP yet), by the
    same amount and invoice date under an unrelated reference; cancelling posts nothing."""
    amount, tag = an_amount(), uuid.uuid4().hex[:6].upper()
    waiting = invoice(f"ORD-{tag}", amount, approved_by=None)
    again = invoice(f"INV-{tag}", amount)
    later = invoice(f"LATE-{tag}", amount, invoice_date=(business_today() - timedelta(days=1)).isoformat())
    async with new_worker(client, sap_server, store, near_duplicate_check="reference-or-date") as worker:
        first = await start(client, worker, waiting)
        await wait_for_status(first, "AWAITING_APPROVAL")
        second = await start(client, worker, again)
        held = await wait_for_status(second, "ON_HOLD")
        third = await start(client, worker, later)  # another day: the reference rule alone, no match
        await wait_for_status(third, "SCHEDULED")
        await second.execute_update(InvoiceToPayment.cancel, decision_input(
            issuer, second.id, "cancel", "ap.alice", reason="the same as ORD-" + tag))
        cancelled = await wait_for_status(second, "CANCELLED")
        for handle in (first, third):
            await handle.terminate("test done")
    reason = held.open_exception.reason
    assert f"lifecycle {waiting.workflow_id}" in reason and "AWAITING_APPROVAL" in reason, reason
    assert "same amount and invoice date" in reason and "ERP document" not in reason, reason
    assert await _count(sap_server, again.supplier_invoice_ref) == 0 and cancelled.erp_document is None


async def test_under_the_reference_rule_alone_the_same_date_is_no_hold(client, sap_server, store):
    amount, tag = an_amount(), uuid.uuid4().hex[:6].upper()
    async with new_worker(client, sap_server, store, near_duplicate_check="reference") as worker:
        one = await start(client, worker, invoice(f"A-{tag}", amount))
        await wait_for_status(one, "SCHEDULED")
        two = await start(client, worker, invoice(f"B-{tag}", amount))
        view = await wait_for_status(two, "SCHEDULED")
        for handle in (one, two):
            await handle.terminate("test done")
    assert view.closed_exceptions == [] and view.erp_document is not None


async def test_the_facts_other_lifecycles_judge_by_are_in_the_memo(client, sap_server, store):
    amount = an_amount()
    inv = invoice(f"M-{uuid.uuid4().hex[:6]}", amount, approved_by=None)
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, worker, inv)
        await wait_for_status(handle, "AWAITING_APPROVAL")

        async def shown():
            memo = await (await handle.describe()).memo()
            assert memo.get("invoice_facts"), memo
            return memo["invoice_facts"]

        facts = await assert_eventually(shown)
        await handle.terminate("test done")
    assert facts == {"schema_version": 1, "reference": inv.supplier_invoice_ref, "gross_amount": amount,
                     "currency": "EUR", "invoice_date": inv.invoice_date.isoformat()}


class _Listing:
    """A stand-in for the client's visibility list call that takes a moment and names itself in
    the one lifecycle it lists (in addition to the dev-server tests above: only the batching is
    tested)."""

    namespace = "default"
    data_converter = DataConverter.default

    def __init__(self) -> None:
        self.started: list[float] = []
        self.workflow_service = SimpleNamespace(list_workflow_executions=self._list)

    async def _list(self, request: ListWorkflowExecutionsRequest, **_) -> ListWorkflowExecutionsResponse:
        assert "SupplierId='1000013'" in request.query and "InvoiceStatus IN (" in request.query, request.query
        self.started.append(asyncio.get_running_loop().time())
        number = len(self.started) - 1
        await asyncio.sleep(0.05)
        return ListWorkflowExecutionsResponse(executions=[
            WorkflowExecutionInfo(execution=WorkflowExecution(workflow_id=f"list-{number}"))])


async def test_concurrent_checks_of_one_supplier_share_lists_started_after_they_asked():
    from activities.lifecycle_listing import SupplierLifecycles
    fake = _Listing()
    lifecycles = SupplierLifecycles(fake)  # type: ignore[arg-type]

    async def ask(delay: float) -> tuple[float, int]:
        await asyncio.sleep(delay)
        asked = asyncio.get_running_loop().time()
        [answer] = await lifecycles.unposted("1000013", "1710")
        return asked, int(answer.workflow_id.removeprefix("list-"))

    answers = await asyncio.gather(*(ask(i * 0.002) for i in range(100)))
    assert 2 <= len(fake.started) <= 6, fake.started  # 100 checks, a handful of lists
    # Each was answered by a list that started after it asked: as fresh as a list of its own.
    assert all(fake.started[number] >= asked for asked, number in answers)
