"""SLA escalation over real days, on the time-skipping test server: an exception nobody
resolves escalates after its SLA (48 h by default) and again after the next one."""

from datetime import timedelta

from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from tests.helpers import invoice_json, new_worker, wait_for_status


async def test_unresolved_case_escalates_after_two_days_then_again(skipping_env, sap_server, store):
    client = skipping_env.client
    invoice = Invoice.model_validate(invoice_json(supplier_id="9999997"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow("InvoiceToPayment", invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
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
