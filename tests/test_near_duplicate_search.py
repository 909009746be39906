"""The near-duplicate check's two reads as one activity (DuplicateSearch.possible_duplicates,
`near-duplicate-search-v1`): a refusal still ends the call, and a transient failure of either
read is retried under the outage case its own counterpart's call would open (architecture
invariant 12), on the dev server with a short SLA."""

import dataclasses
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import workflows.activity_options as opts
from activities.duplicate_search import ERP_OUTAGE, LIFECYCLES_OUTAGE, DuplicateSearch
from adapters.erp_errors import ErpBusinessError, ErpTransientError
from canonical.duplicates import DuplicateFindings
from canonical.invoice import Invoice
from tests.helpers import invoice_json, new_worker, wait_for_status
from workflows.invoice_lifecycle import InvoiceToPayment


def test_each_part_of_the_search_fails_with_its_counterparts_outage_case_type():
    assert (opts.ERP.case_type, opts.LIFECYCLE_SEARCH.case_type) == (ERP_OUTAGE, LIFECYCLES_OUTAGE)
    assert opts.NEAR_DUPLICATE_SEARCH.parts == (opts.ERP, opts.LIFECYCLE_SEARCH)
    assert opts.NEAR_DUPLICATE_SEARCH.owner == opts.ERP.owner == opts.LIFECYCLE_SEARCH.owner
    # An attempt makes both reads: it may take as long as both may, within one outage SLA.
    assert opts.NEAR_DUPLICATE_SEARCH.start_to_close >= opts.ERP.start_to_close + opts.LIFECYCLE_SEARCH.start_to_close
    assert opts.NEAR_DUPLICATE_SEARCH.outage_sla == opts.ERP.outage_sla == opts.LIFECYCLE_SEARCH.outage_sla


def _search(failure: Exception) -> DuplicateSearch:
    async def invoices_of_amount(*_):
        raise failure

    erps = SimpleNamespace(for_company=lambda _: SimpleNamespace(invoices_of_amount=invoices_of_amount))
    return DuplicateSearch(client=None, erps=erps, rules="reference")  # type: ignore[arg-type]


@pytest.mark.parametrize("failure, error_type, retryable", [
    (ErpTransientError("no dialog work process available", retry_after=30), ERP_OUTAGE, True),
    (ErpBusinessError(400, "BAD", "query refused"), "ErpRefusedDuplicateQuery", False),
])
async def test_an_erp_failure_in_the_merged_search_keeps_its_meaning(failure, error_type, retryable):
    invoice = Invoice.model_validate(invoice_json())
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(_search(failure).possible_duplicates, invoice)
    assert (raised.value.type, raised.value.non_retryable) == (error_type, not retryable)
    if retryable:  # SAP's Retry-After still honoured
        assert raised.value.next_retry_delay == timedelta(seconds=30)


async def test_outages_of_either_read_open_their_own_counterparts_cases_and_close_themselves(
        client, sap_server, store, monkeypatch):
    """The ERP fails for the first 8 seconds, then the lifecycle listing until 16: with a 6-second
    outage SLA each outlasts a round, so each opens its counterpart's case; both close when the
    call succeeds, and the invoice goes on to SCHEDULED. On the dev server in real time: the
    search is a local activity, whose rounds end by the worker's clock (`local-activities-v1`)."""
    monkeypatch.setattr(opts, "NEAR_DUPLICATE_SEARCH", dataclasses.replace(
        opts.NEAR_DUPLICATE_SEARCH, start_to_close=timedelta(seconds=5), outage_sla=timedelta(seconds=6),
        retry=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=1))))
    first_call: list[float] = []

    @activity.defn(name="possible_duplicates")
    async def erp_then_visibility_down(invoice: Invoice) -> DuplicateFindings:
        now = time.monotonic()
        first_call.append(now) if not first_call else None
        if now - first_call[0] < 8:
            raise ApplicationError("ERP unavailable for the near-duplicate check", type=ERP_OUTAGE)
        if now - first_call[0] < 16:
            raise ApplicationError("Temporal visibility unavailable", type=LIFECYCLES_OUTAGE)
        return DuplicateFindings(in_erp=[], in_lifecycles=[])

    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, replace=[erp_then_visibility_down]) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        view = await wait_for_status(handle, "SCHEDULED", timeout=60)
        await handle.terminate("test done")
    closed = {c.type: c for c in view.closed_exceptions}
    assert set(closed) == {"ErpUnavailable", "LifecycleCallsFailing"}, view.closed_exceptions
    assert all(c.owner.value == "integration-ops" and c.resolved_by == "finsync" for c in closed.values())
    assert "the ERP has not answered" in closed["ErpUnavailable"].reason, closed["ErpUnavailable"].reason
    assert closed["ErpUnavailable"].opened_at < closed["LifecycleCallsFailing"].opened_at
    assert view.open_exception is None and not view.open_outages
