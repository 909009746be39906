"""What a fresh lifecycle costs in Temporal actions: one patch marker for the patch generation
(workflows/patch_generation.py), its own search attributes sent once per workflow task
(workflows/lifecycle_state.py), its start checks and near-duplicate reads as one activity each,
and a timer only where no armed one fires in time (workflows/deadline_alarm.py), against the real
dev server, mock-sap and mock-bank."""

import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from canonical.invoice import Invoice
from canonical.treasury import OutflowState
from tests import bank_admin
from tests.helpers import (
    LOCAL_ACTIVITY_MARKER,
    activity_types_scheduled,
    decide,
    invoice_json,
    new_worker,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from worker import history_replayer
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.patch_generation import GENERATION

pytestmark = pytest.mark.clock_sensitive

CHANGE_VERSION = "TemporalChangeVersion"  # the SDK core's upsert beside each new patch marker


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def _tasks(client: Client, handle: WorkflowHandle) -> tuple[list[str], list[list[list[str]]]]:
    """The patch ids marked, and per completed workflow task the attribute names of each upsert
    its commands wrote (the events after its WORKFLOW_TASK_COMPLETED). The history replays: the
    upsert sent from the event loop's queue lands in the same task on replay."""
    history = await handle.fetch_history()
    await history_replayer(client.data_converter).replay_workflow(history)
    patches: list[str] = []
    tasks: list[list[list[str]]] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append([])
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                continue  # counted by _local_activities_per_task
            assert marker.marker_name == "core_patch"
            patches.append(json.loads(marker.details["patch-data"].payloads[0].data)["id"])
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            tasks[-1].append(sorted(fields))
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    return patches, tasks


async def _local_activities_per_task(handle: WorkflowHandle) -> list[list[str]]:
    """The local activities each workflow task ran, by type, for the tasks that ran any."""
    tasks: list[list[str]] = []
    for event in (await handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks.append([])
        elif (event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
              and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER):
            data = event.marker_recorded_event_attributes.details["data"].payloads[0].data
            tasks[-1].append(json.loads(data)["activity_type"])
    return [task for task in tasks if task]


async def test_paid_lifecycle_marks_one_patch_and_upserts_once_per_task(client, sap_server, bank_server, store):
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            assert (await pay(client, worker.task_queue)).paid_invoices == 1
            await advance_until(handle, "COMPLETED", bank_server)
        await handle.result()
    patches, tasks = await _tasks(client, handle)
    assert patches == [GENERATION]  # not one marker per patch the lifecycle passed
    # Reads and keyed treasury writes are local activities; all of one task's are one action.
    # A query (wait_for_status sends them) ends the task it lands in, so how they group may vary;
    # the audit append runs beside the validation, so their order may too.
    local = await _local_activities_per_task(handle)
    assert sorted(kind for task in local for kind in task) == sorted([
        "record_decision", "validate_invoice_against_master_data", "possible_duplicates",  # start
        "register_expected_outflow",  # SCHEDULED
        "check_vendor_account",  # at reservation
    ]), local  # settled: the bank inbox made the outflow actual as it read the camt.054 (bank_inbox.py)
    outflow = store.get_outflow(invoice.key)
    assert (outflow.state, outflow.amount) == (OutflowState.ACTUAL, invoice.gross_amount), outflow
    # The ERP post stays a normal activity: its retry after a lost worker must not come before
    # a request still in flight has landed (workflows/counterpart_calls.py). So do the start
    # checks, in the run's first task (workflows/approvals.py).
    normal = [e.activity_task_scheduled_event_attributes.activity_type.name
              for e in (await handle.fetch_history()).events if e.HasField("activity_task_scheduled_event_attributes")]
    assert normal == ["admit_invoice", "post_supplier_invoice"], normal
    scheduled = await activity_types_scheduled(handle)  # in order: each a billable action
    # The start checks are one activity, each asked once (workflows/approvals.py).
    assert scheduled.count("admit_invoice") == 1, scheduled
    assert not {"read_controls", "verify_start"} & set(scheduled), scheduled
    # So are the near-duplicate check's reads (workflows/near_duplicates.py).
    assert scheduled.count("possible_duplicates") == 1, scheduled
    assert not {"possible_duplicates_in_erp", "possible_duplicates_in_lifecycles"} & set(scheduled), scheduled
    events = (await handle.fetch_history()).events
    timers = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    # Each a billable action: the payment-run deadline, the day for the file to go out, the
    # clearing look, at most; the bank-answer and settlement waits are covered by the day's timer.
    assert len(timers) <= 3, [e.user_metadata.summary.data for e in timers]
    assert [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_CANCELED] == []
    upserts = [names for task in tasks for names in task]
    assert upserts.count([CHANGE_VERSION]) == 1, upserts
    ours = [[names for names in task if names != [CHANGE_VERSION]] for task in tasks]
    assert all(len(task) <= 1 for task in ours), ours
    # The first task's upsert carries the keys and the first status together (findable at once).
    assert ours[0] == [sorted(["InvoiceId", "SupplierId", "CompanyCode", "InvoiceStatus"])], ours[0]
    # CLEARED and COMPLETED in one task: sent once, before the completion (the last event, above).
    assert ours[-1] == [["InvoiceStatus"]], ours[-1]
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.INVOICE_STATUS) == "COMPLETED"
    assert attrs.get(sa.INVOICE_ID) == invoice.key and attrs.get(sa.COMPANY_CODE) == "1710"
    assert attrs.get(sa.EXCEPTION_OWNER) is None and attrs.get(sa.CASE_DUE_AT) is None


async def test_held_and_cancelled_lifecycle_ends_showing_no_case(client, sap_server, store, issuer):
    # An account the ERP does not have: held for master data (the case in visibility), then cancelled.
    invoice = Invoice.model_validate(invoice_json(bank_account_id="0009"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "ON_HOLD")
        held = (await handle.describe()).typed_search_attributes
        await decide(handle, issuer, "cancel", "ap.alice", reason="entered twice")
        await handle.result()
    assert (held.get(sa.INVOICE_STATUS), held.get(sa.EXCEPTION_OWNER)) == ("ON_HOLD", "master-data")
    assert held.get(sa.CASE_DUE_AT) is not None and held.get(sa.CASE_SEVERITY) is not None
    patches, tasks = await _tasks(client, handle)
    assert patches == [GENERATION]
    ours = [[names for names in task if names != [CHANGE_VERSION]] for task in tasks]
    assert all(len(task) <= 1 for task in ours), ours
    attrs = (await handle.describe()).typed_search_attributes
    assert attrs.get(sa.INVOICE_STATUS) == "CANCELLED"
    assert [attrs.get(key) for key in (sa.EXCEPTION_OWNER, sa.EXCEPTION_TYPE, *sa.CASE_SLA)] == [None] * 6
