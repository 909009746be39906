"""A lifecycle started as finsync's own starters start it (workflows/lifecycle_start.py) is findable
from its start and writes none of it again; what a starter got wrong or forged is overwritten in
the first task. Against the real dev server and mock-sap; the histories replay."""

from datetime import UTC, datetime
from decimal import Decimal

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.lifecycle_listing import FACTS_MEMO
from canonical.duplicates import InvoiceFacts
from canonical.invoice import Invoice
from tests.helpers import invoice_json, new_worker, wait_for_status
from worker import history_replayer
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.lifecycle_start import start_options

_CHANGE_VERSION = "TemporalChangeVersion"  # the SDK core's, beside the patch marker


async def _first_task_writes(client: Client, handle: WorkflowHandle) -> list[str]:
    """The upserts' attribute names and memo changes the first workflow task wrote; checks the
    history replays."""
    history = await handle.fetch_history()
    await history_replayer(client.data_converter).replay_workflow(history)
    writes: list[str] = []
    tasks = 0
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks += 1
        elif tasks == 1 and event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            writes += sorted(event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        elif tasks == 1 and event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            writes.append("memo")
    return writes


async def test_started_with_its_attributes_writes_only_the_patch_version_first(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue, **start_options(invoice))
        shown_at_start = (await handle.describe()).typed_search_attributes  # before any worker task, maybe
        await wait_for_status(handle, "SCHEDULED")
    assert shown_at_start.get(sa.INVOICE_ID) == invoice.key
    assert await _first_task_writes(client, handle) == [_CHANGE_VERSION]
    described = await handle.describe()
    assert await described.memo_value(FACTS_MEMO, type_hint=InvoiceFacts) == InvoiceFacts.of(invoice)
    attrs = described.typed_search_attributes
    assert (attrs.get(sa.INVOICE_STATUS), attrs.get(sa.INVOICE_ID)) == ("SCHEDULED", invoice.key)


async def test_forged_start_attributes_are_overwritten_in_the_first_task(client, sap_server, store):
    # An account the ERP does not have: the lifecycle rests ON_HOLD after its first tasks.
    invoice = Invoice.model_validate(invoice_json(bank_account_id="0009"))
    forged = TypedSearchAttributes([
        SearchAttributePair(sa.INVOICE_ID, "1710-1000013-SOMETHING-ELSE"),
        SearchAttributePair(sa.SUPPLIER_ID, invoice.supplier_id),  # right: not written again
        SearchAttributePair(sa.INVOICE_STATUS, "COMPLETED"),
        SearchAttributePair(sa.EXCEPTION_OWNER, "nobody"),
        SearchAttributePair(sa.CASE_DUE_AT, datetime(2099, 1, 1, tzinfo=UTC)),
    ])
    wrong_facts = InvoiceFacts.of(invoice).model_copy(update={"gross_amount": Decimal("1.00")})
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue, search_attributes=forged,
                                             memo={FACTS_MEMO: wrong_facts})
        await wait_for_status(handle, "ON_HOLD")
    first = await _first_task_writes(client, handle)
    assert first == [_CHANGE_VERSION, "memo", *sorted(["InvoiceId", "InvoiceStatus", "ExceptionOwner", "CaseDueAt",
                                                       "CompanyCode"])], first
    described = await handle.describe()
    assert await described.memo_value(FACTS_MEMO, type_hint=InvoiceFacts) == InvoiceFacts.of(invoice)
    attrs = described.typed_search_attributes
    assert (attrs.get(sa.INVOICE_ID), attrs.get(sa.INVOICE_STATUS)) == (invoice.key, "ON_HOLD")
    assert attrs.get(sa.EXCEPTION_OWNER) == "master-data"  # the hold's own case, not the forged owner
    assert attrs.get(sa.CASE_DUE_AT) is not None and attrs.get(sa.CASE_DUE_AT).year < 2099
