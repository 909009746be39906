"""The lifecycle tells the supplier (Peppol Invoice Responses through a real mock-einvoice, with
the dev server and mock-sap): AB on receipt, AP once approved and posted, RE when rejected, and
one response per status change even when the worker restarts in between."""

import hashlib
from datetime import UTC, datetime

import pytest
from temporalio.client import Client

from canonical.einvoice import EInvoiceReceipt
from canonical.invoice import Invoice
from canonical.invoice_response import ResponseCode
from tests.helpers import assert_eventually, decide, invoice_json, new_worker, wait_for_status
from tests.test_supplier_responses import mock_url, sent_invoice, supplier_side  # noqa: F401 (fixture)
from workflows.invoice_lifecycle import InvoiceToPayment


def lifecycle_for(number: str) -> tuple[Invoice, EInvoiceReceipt]:
    invoice = Invoice.model_validate(invoice_json(ref=number, approved_by=None, submitted_by="ap.clerk"))
    receipt = EInvoiceReceipt(
        invoice_key=invoice.key, document_id=number, sha256=hashlib.sha256(number.encode()).hexdigest(),
        received_at=datetime.now(UTC), issue_date=invoice.invoice_date, currency=invoice.currency,
        gross_amount=invoice.gross_amount, supplier_endpoint="0088:4012345000009")
    return invoice, receipt


async def start(client: Client, worker, invoice: Invoice, receipt: EInvoiceReceipt):
    return await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                       task_queue=worker.task_queue,
                                       start_signal="einvoice_received", start_signal_args=[receipt])


async def codes(url: str, number: str, expected: list[str]) -> None:
    async def check():
        side = await supplier_side(url, number)
        assert [(r["code"], r["ignored"]) for r in side["responses"]] == [(c, "") for c in expected], side["responses"]
    await assert_eventually(check, timeout=30)


async def test_ab_on_receipt_then_ap_once_approved_and_posted(client: Client, sap_server, store, mock_url, issuer):  # noqa: F811
    number = await sent_invoice(mock_url)
    invoice, receipt = lifecycle_for(number)
    async with new_worker(client, sap_server, store, einvoice_url=mock_url) as worker:
        handle = await start(client, worker, invoice, receipt)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await codes(mock_url, number, ["AB"])
        await decide(handle, issuer, "approve", "ap.bob")
        await wait_for_status(handle, "SCHEDULED")
        await codes(mock_url, number, ["AB", "AP"])
        await handle.signal(InvoiceToPayment.einvoice_received, receipt)  # pushed again: nothing new
    # A new worker (as after a crash) replays the lifecycle: still exactly one AP.
    async with new_worker(client, sap_server, store, einvoice_url=mock_url, task_queue=worker.task_queue):
        await handle.query(InvoiceToPayment.status)
        await codes(mock_url, number, ["AB", "AP"])
        await handle.terminate("test done")


async def test_rejection_answers_re_with_a_reason(client: Client, sap_server, store, mock_url, issuer):  # noqa: F811
    number = await sent_invoice(mock_url)
    invoice, receipt = lifecycle_for(number)
    async with new_worker(client, sap_server, store, einvoice_url=mock_url) as worker:
        handle = await start(client, worker, invoice, receipt)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await decide(handle, issuer, "reject", "ap.bob", reason="not ordered")
        view = await handle.result()
        assert view.status == "CANCELLED"
    await codes(mock_url, number, ["AB", "RE"])
    side = await supplier_side(mock_url, number)
    assert side["status"] == "RE"


async def test_unreachable_access_point_does_not_block_and_answers_resume(client: Client, sap_server, store,
                                                                          mock_url, issuer):  # noqa: F811
    """The access point is down while the invoice is approved and posted: the lifecycle goes on
    to SCHEDULED; a worker that reaches it later answers AB then AP, once each."""
    number = await sent_invoice(mock_url)
    invoice, receipt = lifecycle_for(number)
    async with new_worker(client, sap_server, store) as worker:  # einvoice: nothing listens
        handle = await start(client, worker, invoice, receipt)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await decide(handle, issuer, "approve", "ap.bob")
        await wait_for_status(handle, "SCHEDULED")
    assert (await supplier_side(mock_url, number))["responses"] == []
    async with new_worker(client, sap_server, store, einvoice_url=mock_url, task_queue=worker.task_queue):
        async def check():
            side = await supplier_side(mock_url, number)
            assert [(r["code"], r["ignored"]) for r in side["responses"]] == [("AB", ""), ("AP", "")], side["responses"]
        await assert_eventually(check, timeout=60, interval=0.5)
        await handle.terminate("test done")


@pytest.mark.clock_sensitive
async def test_held_then_paid_and_cleared_answers_uq_ap_pd(client: Client, sap_server, bank_server, store,
                                                           mock_url, issuer):  # noqa: F811
    """A query while on hold (UQ), approval and posting (AP), payment cleared in the ERP (PD)."""
    from tests import bank_admin
    from tests.payment_helpers import advance_until, bank_inbox, pay

    await bank_admin.reset(bank_server)
    number = await sent_invoice(mock_url)
    invoice, receipt = lifecycle_for(number)
    held = invoice.model_copy(update={"bank_account_id": "0009"})  # an account the ERP does not have: ON_HOLD
    async with new_worker(client, sap_server, store, einvoice_url=mock_url, bank_url=bank_server) as worker:
        handle = await start(client, worker, held, receipt)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await decide(handle, issuer, "approve", "ap.bob")
        await wait_for_status(handle, "ON_HOLD")
        await codes(mock_url, number, ["AB", "UQ"])
        await decide(handle, issuer, "resolve", "md.mia", resolution="invoice names account 0001",
                     bank_account_id="0001")
        await wait_for_status(handle, "AWAITING_APPROVAL")  # another payee: approved again
        await decide(handle, issuer, "approve", "ap.carol")
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue)
            await advance_until(handle, "COMPLETED", bank_server)
        await codes(mock_url, number, ["AB", "UQ", "AP", "PD"])


def test_every_case_type_reads_as_a_reviewed_text_with_a_peppol_reason():
    from canonical.exceptions import EXCEPTION_OWNERS
    from canonical.invoice_response import REASON_CODES
    from canonical.supplier_texts import (
        DUPLICATE,
        NOT_ACCEPTED,
        ORDER_REFERENCE,
        UNDER_REVIEW,
        case_type_of,
        supplier_reasons,
    )

    for case_type in EXCEPTION_OWNERS:
        [(code, text)] = supplier_reasons(ResponseCode.UQ, case_type)
        assert code in REASON_CODES and case_type not in text
    assert supplier_reasons(ResponseCode.UQ, "BankDetailsChanged") == [UNDER_REVIEW]
    assert supplier_reasons(ResponseCode.UQ, "InvalidBankAccount") == [UNDER_REVIEW]
    assert supplier_reasons(ResponseCode.UQ, "PurchaseOrderMismatch") == [ORDER_REFERENCE]
    assert supplier_reasons(ResponseCode.RE, duplicate=True) == [DUPLICATE]
    assert supplier_reasons(ResponseCode.RE) == [NOT_ACCEPTED] and supplier_reasons(ResponseCode.AP) == []
    assert case_type_of("BankDetailsChanged: supplier 1000013 bank details changed") == "BankDetailsChanged"
    assert case_type_of("by ap.anna: not ordered") == ""


async def test_a_hold_and_a_cancel_tell_the_supplier_only_reviewed_texts(client: Client, sap_server, store,
                                                                         mock_url, issuer):  # noqa: F811
    """The case behind a hold (here the ERP has no such bank account) and the person who cancels
    with an internal reason stay ours: the UQ carries the neutral review text (the same a held
    bank-details change gets, so a fraudster learns nothing), the RE a plain "not accepted"."""
    import httpx

    from canonical.supplier_texts import NOT_ACCEPTED, NOTES, UNDER_REVIEW

    number = await sent_invoice(mock_url)
    invoice, receipt = lifecycle_for(number)
    held = invoice.model_copy(update={"bank_account_id": "0009"})  # an account the ERP does not have: ON_HOLD
    async with new_worker(client, sap_server, store, einvoice_url=mock_url) as worker:
        handle = await start(client, worker, held, receipt)
        await wait_for_status(handle, "AWAITING_APPROVAL")
        await decide(handle, issuer, "approve", "ap.bob")
        await wait_for_status(handle, "ON_HOLD")
        await codes(mock_url, number, ["AB", "UQ"])
        await decide(handle, issuer, "cancel", "ap.alice",
                     reason="supplier suspected of invoice fraud, see ticket 4711")
        await handle.result()
        await codes(mock_url, number, ["AB", "UQ", "RE"])
    side = await supplier_side(mock_url, number)
    async with httpx.AsyncClient(base_url=mock_url) as mock:
        uq, re = [(await mock.get(f"/_mock/answers/{r['id']}")).text for r in side["responses"][1:]]
    assert UNDER_REVIEW[1] in uq and NOTES[ResponseCode.UQ] in uq
    assert NOT_ACCEPTED[1] in re and NOTES[ResponseCode.RE] in re
    for internal in ("MissingBankAccount", "account 0009", "ap.bob", "ap.alice", "fraud", "4711"):
        assert internal not in uq + re
