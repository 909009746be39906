"""Continue-as-new in the holds around a payment (workflows/continuation.py), on a dev server
that suggests it early, with mock-sap and mock-bank: a document-conflict hold and a bank-detail
hold go on under the same case in the next run (its four-eyes rule with them), and a rejected
payment awaiting remediation is resumed, resolved onto another account and paid once."""

import pytest
from temporalio.client import WorkflowUpdateFailedError

from canonical.invoice import Invoice
from identity.people import MASTER_DATA
from tests import bank_admin, sap_admin
from tests.continuation_helpers import (  # noqa: F401 (fixtures)
    can_client,
    can_env,
    flood_until_continued,
    runs,
    scheduled_activities,
    start,
    status,
    waited_at,
)
from tests.helpers import (
    assert_eventually,
    decide,
    decision_input,
    invoice_json,
    new_worker,
    path,
    session_issuer,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.test_supplier_controls import bank_change, inclusion, receipt_for
from workflows.invoice_lifecycle import InvoiceToPayment


async def held_under(handle, case_type: str):
    async def check():
        view = await status(handle)
        assert view.open_exception is not None and view.open_exception.type == case_type, view.open_exception
        return view

    return await assert_eventually(check)


async def test_document_conflict_hold_continues_and_is_resolved_once(can_client, sap_server, store,  # noqa: F811
                                                                     issuer):
    client = can_client
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, worker, invoice)
        await wait_for_status(handle, "SCHEDULED")
        await handle.signal(InvoiceToPayment.einvoice_received, receipt_for(invoice, gross="1290.00"))
        held = await held_under(handle, "DuplicateReferenceConflict")
        chain = await flood_until_continued(client, handle, lambda: handle.signal(InvoiceToPayment.statement_posted))
        after = await status(handle)
        with pytest.raises(WorkflowUpdateFailedError):  # still held: no run may take it
            await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion())
        await decide(handle, issuer, "resolve", "ap.alice",
                     resolution="the 1190.00 document is right; the other was a draft")
        view = await wait_for_status(handle, "SCHEDULED")
        reserved = await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion())
        await handle.terminate("test done")
    assert after == held
    assert set(await waited_at(client, chain)) == {"PAYMENT/document-conflict"}
    assert path(view)[-3:] == ["SCHEDULED", "ON_HOLD", "SCHEDULED"], path(view)
    [closed] = view.closed_exceptions
    assert (closed.case_id, closed.resolved_by) == (held.open_exception.case_id, "ap.alice")
    assert reserved.instruction.invoice_key == invoice.key


async def test_bank_detail_hold_continues_keeps_four_eyes_and_blocks_once(can_client, sap_server, store):  # noqa: F811
    client = can_client
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await start(client, worker, invoice)
        doc = (await wait_for_status(handle, "SCHEDULED")).erp_document
        await handle.signal(InvoiceToPayment.bank_details_changed, bank_change(invoice, changed_by="md.mallory"))
        held = await held_under(handle, "BankDetailsChanged")
        await flood_until_continued(client, handle, lambda: handle.signal(InvoiceToPayment.statement_posted))
        assert await status(handle) == held
        with pytest.raises(WorkflowUpdateFailedError) as own:  # the new run knows who changed them
            await handle.execute_update(InvoiceToPayment.confirm_bank_details, decision_input(
                session_issuer(), handle.id, "confirm_bank_details", "md.mallory", roles=(MASTER_DATA,),
                note="it was me"))
        await handle.execute_update(InvoiceToPayment.confirm_bank_details, decision_input(
            session_issuer(), handle.id, "confirm_bank_details", "md.mia", note="called the supplier back"))
        view = await wait_for_status(handle, "SCHEDULED")
        chain = await runs(client, handle)
        erp = await sap_admin.get_invoice(sap_server, doc.invoice_document, doc.fiscal_year)
        await handle.terminate("test done")
    assert "four eyes" in own.value.cause.message
    assert "PAYMENT/bank-details" in await waited_at(client, chain)
    [closed] = view.closed_exceptions
    assert (closed.case_id, closed.resolved_by) == (held.open_exception.case_id, "md.mia")
    assert scheduled_activities(chain, "set_payment_block") == 2  # blocked before the flood, lifted after it
    assert erp["PaymentBlockingReason"] == ""


@pytest.mark.clock_sensitive
async def test_remediation_continues_and_the_refused_account_is_still_refused(can_client, sap_server, bank_server,  # noqa: F811
                                                                              store, issuer):
    # INITECH's account at the bank is closed: AC04. AP gets its new account from the supplier.
    await bank_admin.reset(bank_server)
    await sap_admin.add_bank_account_if_missing(sap_server, "1000014", "0002", "DE89370400440532013000", "COBADEFFXXX")
    client = can_client
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000014"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await start(client, worker, invoice)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue)
            held = await wait_for_status(handle, "AWAITING_REMEDIATION")
            await flood_until_continued(client, handle, lambda: handle.signal(InvoiceToPayment.statement_posted))
            assert await status(handle) == held
            with pytest.raises(WorkflowUpdateFailedError) as same_account:  # the new run knows what the bank refused
                await decide(handle, issuer, "resolve", "ap.alice", resolution="try again")
            await decide(handle, issuer, "resolve", "md.mia", resolution="supplier confirmed new account",
                         bank_account_id="0002")
            await wait_for_status(handle, "AWAITING_APPROVAL")  # another payee: approved again
            await decide(handle, issuer, "approve", "ap.bob")
            await wait_for_status(handle, "SCHEDULED")
            second = await pay(client, worker.task_queue, run_number=2)
            assert second.paid_invoices == 1, second
            view = await advance_until(handle, "COMPLETED", bank_server)
        chain = await runs(client, handle)
    assert "paying the same account again is refused" in same_account.value.cause.message
    assert "PAYMENT/remediation" in await waited_at(client, chain)
    first, retry = view.payment_attempts
    assert (first.outcome, first.reason_code) == ("rejected", "AC04")
    assert retry.outcome == "settled" and retry.end_to_end_id != first.end_to_end_id
    assert scheduled_activities(chain, "release_payment_run_claim") == 1
    assert len(await bank_admin.payments_for(bank_server, retry.end_to_end_id)) == 1
    case = next(c for c in view.closed_exceptions if c.case_id == held.open_exception.case_id)
    assert case.resolved_by == "md.mia"
