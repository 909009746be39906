"""Every verified decision is appended to the audit chain (architecture invariant 13), keyed by
the workflow and the token, and the lifecycle does not end before it is: here an approval, a
second approver, and a cancel, then `audit verify` over the chain they wrote."""

from adapters.audit_log import AuditLog
from canonical.audit import AuditKind
from canonical.invoice import Invoice
from tests.helpers import assert_eventually, decision_input, invoice_json, new_worker, wait_for_status
from workflows.invoice_lifecycle import InvoiceToPayment

BIG = {"net_amount": "10000.00", "tax_amount": "1900.00", "gross_amount": "11900.00",
       "lines": [{"line_no": 1, "description": "Annual licence", "net_amount": "10000.00"}]}


async def test_approvals_and_a_cancel_are_in_the_audit_chain(client, sap_server, store, issuer):
    invoice = Invoice.model_validate(invoice_json(approved_by=None, **BIG))
    wf = invoice.workflow_id
    audit = AuditLog(store.engine)
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=wf, task_queue=worker.task_queue)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.bob", note="contract ok"))
        await handle.execute_update("approve", decision_input(issuer, wf, "approve", "ap.dave"))
        await wait_for_status(handle, "SCHEDULED")
        await handle.execute_update("cancel", decision_input(issuer, wf, "cancel", "ap.alice", reason="duplicate"))
        await handle.result()  # ended: only once its decisions were appended

    decisions = [e for e in audit.trail(invoice.key) if e.kind is AuditKind.DECISION]
    assert [(e.action, e.actor) for e in decisions] == [("approve", "ap.bob"), ("approve", "ap.dave"),
                                                        ("cancel", "ap.alice")]
    assert all(e.verified_by.startswith("jwt:finsync-dev-issuer#") for e in decisions)
    assert all(e.entry_key.startswith(f"{wf}/") for e in decisions)
    assert audit.verify().broken_at is None

    async def appended_once() -> None:  # the keys make a retried append find its entry
        assert len({e.entry_key for e in decisions}) == len(decisions) == 3
    await assert_eventually(appended_once)
