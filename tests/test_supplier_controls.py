"""Supplier controls on a running lifecycle (real dev server and mock-sap): e-invoice receipts
recorded once per document and a second document with another amount held for AP; a changed
supplier bank account holding the payment (SAP payment block, master-data case, four eyes)
unless a payment is already in flight."""

import hashlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio.client import Client, WorkflowUpdateFailedError

from canonical.commands import PaymentRunInclusion
from canonical.controls import ControlPolicy
from canonical.einvoice import EInvoiceReceipt, EInvoiceRefusals
from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from canonical.vendors import BankDetailsChange
from identity.people import MASTER_DATA
from tests import sap_admin
from tests.clock import business_today
from tests.helpers import assert_eventually, decide, decision_input, invoice_json, new_worker, wait_for_status
from workflows.invoice_lifecycle import InvoiceToPayment


def receipt_for(invoice: Invoice, gross: str | None = None, content: str | None = None) -> EInvoiceReceipt:
    body = content or f"{invoice.key}|{gross or invoice.gross_amount}"
    return EInvoiceReceipt(
        invoice_key=invoice.key, document_id=invoice.supplier_invoice_ref,
        sha256=hashlib.sha256(body.encode()).hexdigest(),
        received_at=datetime.now(UTC), issue_date=invoice.invoice_date, currency=invoice.currency,
        gross_amount=Decimal(gross) if gross else invoice.gross_amount, supplier_endpoint="0088:5790000435951",
        payee_iban="NL14MOCK0000000002",  # GLOBEX's account in the ERP: only the documents differ here
    )


def inclusion(run: str = "1") -> PaymentRunInclusion:
    return PaymentRunInclusion(payment_run_id="S" + run, run_key=f"ACME-{uuid.uuid4().hex[:6]}-{run}",
                               execution_date=business_today())


def bank_change(invoice: Invoice, changed_by: str | None = "md.mallory") -> BankDetailsChange:
    return BankDetailsChange(supplier_id=invoice.supplier_id, bank_account_id="0001", old_masked="****0002",
                             new_masked="****9999", detected_at=datetime.now(UTC), changed_by=changed_by)


async def status(handle) -> InvoiceLifecycleStatus:
    return await handle.query(InvoiceToPayment.status)


async def test_same_document_twice_is_one_receipt_and_another_amount_is_held_for_ap(client: Client, sap_server, store,
                                                                                    issuer):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        try:
            await wait_for_status(handle, "SCHEDULED")
            same = receipt_for(invoice)
            await handle.signal(InvoiceToPayment.einvoice_received, same)
            await handle.signal(InvoiceToPayment.einvoice_received, same)  # pushed twice

            async def one_receipt():
                view = await status(handle)
                assert [r.sha256 for r in view.einvoice_receipts] == [same.sha256]
                return view

            view = await assert_eventually(one_receipt)
            assert view.open_exception is None and not view.einvoice_receipts[0].conflict

            other = receipt_for(invoice, gross="1290.00")
            await handle.signal(InvoiceToPayment.einvoice_received, other)

            async def held():
                view = await status(handle)
                assert view.open_exception is not None and view.open_exception.type == "DuplicateReferenceConflict"
                return view

            held_view = await assert_eventually(held)
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion())
            with pytest.raises(WorkflowUpdateFailedError) as corrected:  # the posted invoice stands: no correction
                await decide(handle, issuer, "resolve", "ap.alice", resolution="x", corrected_invoice=invoice)
            await decide(handle, issuer, "resolve", "ap.alice",
                         resolution=f"document for {invoice.gross_amount} is right; the 1290.00 one was a draft")
            resolved = await wait_for_status(handle, "SCHEDULED")
            reserved = await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion())
        finally:
            await handle.terminate("test done")

    assert held_view.open_exception.owner.value == "ap-remediation"
    assert [r.conflict for r in held_view.einvoice_receipts] == [False, True]
    assert "1290.00" in held_view.open_exception.reason
    assert resolved.open_exception is None
    assert resolved.closed_exceptions[-1].type == "DuplicateReferenceConflict"
    assert resolved.closed_exceptions[-1].resolved_by == "ap.alice"
    assert "document conflict is resolved in words" in corrected.value.cause.message
    assert reserved.instruction.amount == invoice.gross_amount


async def test_changed_bank_details_hold_the_payment_until_someone_else_confirms(client: Client, sap_server, store,
                                                                                issuer):
    invoice = Invoice.model_validate(invoice_json())
    # No cooling-off, so the run reserves it at once (test_verified_treasury_decisions has one).
    no_cooling_off = ControlPolicy(bank_details_cooling_off_hours=0)
    async with new_worker(client, sap_server, store, controls=no_cooling_off) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        try:
            scheduled = await wait_for_status(handle, "SCHEDULED")
            doc = scheduled.erp_document
            with pytest.raises(WorkflowUpdateFailedError):  # nothing to confirm yet
                await handle.execute_update(InvoiceToPayment.confirm_bank_details, decision_input(
                    issuer, handle.id, "confirm_bank_details", "md.mia", note="called back"))
            await handle.signal(InvoiceToPayment.bank_details_changed, bank_change(invoice))

            async def held():
                view = await status(handle)
                assert view.open_exception is not None and view.open_exception.type == "BankDetailsChanged"
                return view

            held_view = await assert_eventually(held)
            blocked = (await sap_admin.get_invoice(sap_server, doc.invoice_document,
                                                   doc.fiscal_year))["PaymentBlockingReason"]
            with pytest.raises(WorkflowUpdateFailedError):
                await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion())
            with pytest.raises(WorkflowUpdateFailedError) as plain:  # a bank hold is not closed by a plain resolve
                await decide(handle, issuer, "resolve", "md.mia", resolution="ok")
            assert "confirm_bank_details" in plain.value.cause.message
            with pytest.raises(WorkflowUpdateFailedError) as own:  # four eyes: the ERP named md.mallory
                await handle.execute_update(InvoiceToPayment.confirm_bank_details, decision_input(
                    issuer, handle.id, "confirm_bank_details", "MD.Mallory", roles=(MASTER_DATA,), note="it was me"))
            case_id = await handle.execute_update(InvoiceToPayment.confirm_bank_details, decision_input(
                issuer, handle.id, "confirm_bank_details", "md.mia", note="called the supplier back"))

            async def released():
                view = await wait_for_status(handle, "SCHEDULED")
                assert view.open_exception is None
                return view

            released_view = await assert_eventually(released)
            unblocked = (await sap_admin.get_invoice(sap_server, doc.invoice_document,
                                                     doc.fiscal_year))["PaymentBlockingReason"]
            reserved = await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion())
        finally:
            await handle.terminate("test done")

    assert held_view.status.value == "ON_HOLD" and held_view.open_exception.owner.value == "master-data"
    assert blocked == "B" and unblocked == ""
    assert "four eyes" in own.value.cause.message
    closed = released_view.closed_exceptions[-1]
    assert closed.case_id == case_id and closed.type == "BankDetailsChanged" and closed.resolved_by == "md.mia"
    assert reserved.instruction.creditor_iban == "NL14MOCK0000000002"  # what the ERP holds now


async def test_bank_change_does_not_redirect_a_payment_in_flight(client: Client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        try:
            await wait_for_status(handle, "SCHEDULED")
            reserved = await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion())
            await wait_for_status(handle, "IN_PAYMENT_RUN")
            await handle.signal(InvoiceToPayment.bank_details_changed, bank_change(invoice))

            async def noted():
                view = await status(handle)
                assert any("not redirected" in h.note for h in view.history)
                return view

            view = await assert_eventually(noted)
            doc = view.erp_document
            block = (await sap_admin.get_invoice(sap_server, doc.invoice_document,
                                                 doc.fiscal_year))["PaymentBlockingReason"]
        finally:
            await handle.terminate("test done")

    assert view.status.value == "IN_PAYMENT_RUN" and view.open_exception is None
    assert block == ""
    assert reserved.instruction.creditor_iban == "NL14MOCK0000000002"


async def test_documents_refused_at_intake_are_counted_in_the_conflict_case(client: Client, sap_server, store):
    """Intake passes on a bounded number of documents per invoice and tells the lifecycle how many
    further ones it refused (at 1, 2, 4, ...): the conflict case says so, whether the count came
    before the case opened or while it is open, and a late, smaller count changes nothing."""
    invoice = Invoice.model_validate(invoice_json())
    refusals = lambda n: EInvoiceRefusals(invoice_key=invoice.key, refused=n, limit=4)  # noqa: E731
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        try:
            await handle.signal(InvoiceToPayment.einvoice_received, receipt_for(invoice, gross="1290.00"))
            await handle.signal(InvoiceToPayment.einvoice_refused, refusals(2))  # before the case opens

            async def held(refused: int):
                view = await status(handle)
                assert view.open_exception is not None and view.open_exception.type == "DuplicateReferenceConflict"
                assert view.open_exception.reason.endswith(f"refused at intake: {refused} further documents")
                return view

            first = await assert_eventually(lambda: held(2), timeout=30)
            await handle.signal(InvoiceToPayment.einvoice_refused, refusals(8))
            await handle.signal(InvoiceToPayment.einvoice_refused, refusals(4))  # overtaken: ignored
            later = await assert_eventually(lambda: held(8))
        finally:
            await handle.terminate("test done")
    assert "1290.00" in later.open_exception.reason and later.open_exception.case_id == first.open_exception.case_id
    assert later.open_exception.reason.count("refused at intake") == 1
    notes = [h.note for h in later.history if "intake refused" in (h.note or "")]
    said = ("intake refused {} further e-invoice documents for this invoice (it passes on 4 distinct documents per "
            "invoice)")
    assert notes == [said.format(2), said.format(8)]
