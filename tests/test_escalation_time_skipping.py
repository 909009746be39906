"""SLA escalation over real days, on the time-skipping test server: an exception nobody
resolves escalates after its SLA (48 h by default) and again after the next one."""

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from cli.processes import BIN
from codec.bank_details import data_converter, load_codec
from tests.helpers import invoice_json, new_worker, wait_for_status
from workflows import search_attributes as sa


@pytest.fixture
async def skipping_env(test_settings):
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter(load_codec(test_settings)),
    )
    try:
        # The test server knows only built-in search attributes until told of ours.
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in sa.ALL}))
        yield env
    finally:
        await env.shutdown()


async def test_unresolved_case_escalates_after_two_days_then_again(skipping_env, sap_server, store):
    client = skipping_env.client
    invoice = Invoice.model_validate(invoice_json(supplier_id="9999997"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow("InvoiceToPayment", invoice, id=invoice.workflow_id, task_queue=worker.task_queue)
        held = await wait_for_status(handle, "ON_HOLD")
        assert not held.open_exception.escalated
        await skipping_env.sleep(timedelta(hours=47))
        still = await handle.query("status", result_type=InvoiceLifecycleStatus)
        await skipping_env.sleep(timedelta(hours=2))
        once = await handle.query("status", result_type=InvoiceLifecycleStatus)
        await skipping_env.sleep(timedelta(hours=48))
        twice = await handle.query("status", result_type=InvoiceLifecycleStatus)
        await handle.terminate("test done")
    assert not still.open_exception.escalated
    assert once.open_exception.escalated and once.open_exception.severity.value == "high"
    assert twice.open_exception.severity.value == "critical"
    assert twice.open_exception.sla_due_at - held.open_exception.opened_at >= timedelta(hours=48 * 3 - 1)
