"""Continue-as-new in tests: a dev server of the module's own that suggests it early (the
suggestion is server configuration), the chain of a lifecycle's runs, and what each run that
continued carried (its snapshot, decrypted)."""

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from canonical.invoice import Invoice
from canonical.lifecycle_snapshot import LifecycleSnapshot
from canonical.status import InvoiceLifecycleStatus
from codec.bank_details import data_converter, load_codec
from tests.conftest import TEMPORAL_BIN
from tests.helpers import activity_types_of, assert_eventually
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment

SUGGEST_AT = 72  # events; a lifecycle reaches SCHEDULED in about 50 (controls, start verification, near duplicates)


@pytest_asyncio.fixture(scope="module")
async def can_env(test_settings) -> WorkflowEnvironment:
    """A dev server for the module (never downloads), suggesting continue-as-new at SUGGEST_AT."""
    environment = await WorkflowEnvironment.start_local(
        dev_server_existing_path=TEMPORAL_BIN, data_converter=data_converter(load_codec(test_settings)),
        search_attributes=sa.ALL, dev_server_log_level="error",
        dev_server_extra_args=["--dynamic-config-value", f"limit.historyCount.suggestContinueAsNew={SUGGEST_AT}"])
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest.fixture
def can_client(can_env: WorkflowEnvironment) -> Client:
    return can_env.client

async def runs(client: Client, handle: WorkflowHandle) -> list[WorkflowHistory]:
    """Every run's history, first to last: each run that continued as new names the next."""
    histories, run_id = [], handle.first_execution_run_id or handle.result_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                  if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW else None)
    return histories


async def flood_until_continued(client: Client, handle: WorkflowHandle, send, times: int = 1) -> list[WorkflowHistory]:
    """Bursts of signals (`send`), each followed by a quiet look, until the lifecycle has continued
    as new `times` more: the server refuses to close a run while signals it has not seen arrive."""
    before = len(await runs(client, handle))

    async def continued():
        chain = await runs(client, handle)
        assert len(chain) >= before + times, f"{len(chain)} runs"
        return chain

    async def burst_then_look():
        for _ in range(5):
            try:
                await send()
            except RPCError as err:  # the time-skipping server refuses a signal meeting a run that just closed
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
        return await assert_eventually(continued, timeout=1)

    return await assert_eventually(burst_then_look, timeout=60)


def scheduled_activities(chain: list[WorkflowHistory], name: str) -> int:
    return sum(activity_types_of(history.events).count(name) for history in chain)


def continue_as_new_inputs(history: WorkflowHistory):
    [event] = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW]
    return event.workflow_execution_continued_as_new_event_attributes.input.payloads


async def waited_at(client: Client, chain: list[WorkflowHistory]) -> list[str]:
    """Where each run that continued as new was waiting, from its (decrypted) snapshot."""
    snapshots = [(await client.data_converter.decode([continue_as_new_inputs(h)[1]], [LifecycleSnapshot]))[0]
                 for h in chain[:-1]]
    return [f"{s.waiting.stage.name}/{s.waiting.at.value}" for s in snapshots]


async def start(client: Client, worker, invoice: Invoice, **kwargs) -> WorkflowHandle:
    return await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                       task_queue=worker.task_queue, **kwargs)


async def status(handle: WorkflowHandle) -> InvoiceLifecycleStatus:
    return await handle.query(InvoiceToPayment.status)
