"""Two suppliers bill one reference for one amount (issue 12 item 5), against the real mock-sap and
mock-bank: SAP clears a statement line by reference and amount, so it could clear one supplier's
item with the other's money. Each is paid once and cleared once, by the statement line of its own
payment: the run pays one, the other waits for the next run until the first is cleared."""

import httpx
import pytest

from canonical.invoice import Invoice
from tests import bank_admin
from tests.helpers import invoice_json, new_worker, path, unique_ref, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import InvoiceToPayment

pytestmark = pytest.mark.clock_sensitive


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def statements_that_settled(sap_url: str, accounting_document: str) -> list[dict]:
    """The FINSTA01 IDocs that cleared this item, with what each applied (mock-sap's control
    listing, then the IDoc's own receipt)."""
    async with httpx.AsyncClient(base_url=sap_url, headers={"Accept": "application/json"}) as http:
        listed = (await http.get("/_mock/idocs", params={"settled": accounting_document})).json()["results"]
        receipts = [(await http.get(f"/sap/bc/idoc/{row['docnum']}")).json() for row in listed]
    return [applied for receipt in receipts for applied in receipt["APPLIED"]]


async def test_two_suppliers_one_reference_one_amount_each_cleared_once_by_its_own_payment(
        client, sap_server, bank_server, store):
    reference = unique_ref("TW")
    invoices = [Invoice.model_validate(invoice_json(supplier_id=s, ref=reference)) for s in ("1000013", "1000016")]
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handles = {i.key: await client.start_workflow(InvoiceToPayment.run, i, id=i.workflow_id,
                                                      task_queue=worker.task_queue) for i in invoices}
        for handle in handles.values():
            await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            first = await pay(client, worker.task_queue)
            assert first.paid_invoices == 1, first
            [(waiting, why)] = first.refused.items()
            assert "could not tell the two payments apart" in why, why
            [paid_first] = [key for key in handles if key != waiting]
            await wait_for_status(handles[waiting], "SCHEDULED")  # back for the next run, no case
            await advance_until(handles[paid_first], "COMPLETED", bank_server)

            second = await pay(client, worker.task_queue, run_number=2)
            assert second.paid_invoices == 1 and not second.refused, second
            await advance_until(handles[waiting], "COMPLETED", bank_server)
        views = {key: await handle.result() for key, handle in handles.items()}

    statements = []
    for key, view in views.items():
        assert path(view)[-3:] == ["SETTLED", "CLEARED", "COMPLETED"], (key, path(view))
        [attempt] = [a for a in view.payment_attempts if a.outcome == "settled"]
        assert len(await bank_admin.payments_for(bank_server, attempt.end_to_end_id)) == 1  # paid once
        document = view.erp_document.accounting_document
        [applied] = await statements_that_settled(sap_server, document)  # cleared once
        # The statement that cleared it carried this payment only: the other was not yet paid.
        assert [row["ACCOUNTINGDOCUMENT"] for row in applied["CLEARED"]] == [document], applied
        assert applied["UNPROCESSED"] == [], applied
        statements.append(applied["STATEMENT"])
    assert len(set(statements)) == 2, statements
