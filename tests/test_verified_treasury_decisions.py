"""Treasury and master-data decisions by verified people (architecture invariant 8), on the real
dev server, mock-sap and mock-bank: the release limit from the worker's controls, who may
request and release a payment run, who may confirm changed bank details (and the cooling-off
after), an e-invoice asking payment to an account the ERP does not hold, and a bank change
between validation and reservation."""

import hashlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from temporalio.client import WorkflowFailureError

from adapters.vendor_store import VendorStore
from canonical.controls import ControlPolicy
from canonical.einvoice import EInvoiceReceipt
from canonical.invoice import Invoice
from canonical.vendors import VendorBankAccount, VendorRecord, fingerprint
from identity.people import TREASURY_RELEASER
from settings import DEVELOPMENT_FINGERPRINT_KEY
from tests import bank_admin, sap_admin
from tests.clock import business_today
from tests.evidence_helpers import refusal
from tests.helpers import assert_eventually, decision_input, invoice_json, new_worker, run_request, wait_for_status
from tests.test_supplier_controls import bank_change, inclusion
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id

# What is checked is what the run and the lifecycles decided, with no bank inbox running.
pytestmark = pytest.mark.clock_independent

LARGE = {"net_amount": "100000.00", "tax_amount": "19000.00", "gross_amount": "119000.00",
         "lines": [{"line_no": 1, "description": "Plant overhaul", "net_amount": "100000.00"}]}
FOREIGN_IBAN = "GB33BUKB20201555555555"  # not an account of GLOBEX's in the ERP (NL14MOCK0000000002)
NO_COOLING_OFF = ControlPolicy(bank_details_cooling_off_hours=0)


async def held_under(handle, case_type: str):
    async def check():
        view = await handle.query(InvoiceToPayment.status)
        assert view.open_exception is not None and view.open_exception.type == case_type, view.open_exception
        return view

    return await assert_eventually(check)


async def test_a_run_above_the_controls_limit_waits_for_a_verified_releaser_who_neither_requested_nor_approved(
        client, sap_server, bank_server, store, issuer):
    await bank_admin.reset(bank_server)
    invoice = Invoice.model_validate(invoice_json(approved_by="treasury.rob", **LARGE))  # approved in the AP platform
    run_id = payment_run_workflow_id("ACME") + "-verified"
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        lifecycle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                task_queue=worker.task_queue)
        # Above ap_platform_trusted_up_to: finsync's own approver too, one whose limit covers it.
        await wait_for_status(lifecycle, "AWAITING_APPROVAL")
        await lifecycle.execute_update("approve", decision_input(issuer, invoice.workflow_id, "approve", "ap.dave"))
        await wait_for_status(lifecycle, "SCHEDULED")
        # Nobody's token, and not started by a Schedule: refused before it selects anything.
        with pytest.raises(WorkflowFailureError) as anonymous:
            await client.execute_workflow(PaymentRun.run, {"paying_account_id": "ACME", "requested_by": "treasury.tom"},
                                          id=run_id + "-anon", task_queue=worker.task_queue)
        # Requested by a releaser, asking for a limit of a million: the worker's 100,000 holds.
        request = run_request(run_id, person="treasury.rita", paying_account_id="ACME", run_date=business_today(),
                              horizon_days=60, run_number=5, release_above="1000000.00")
        run = await client.start_workflow(PaymentRun.run, request, id=run_id, task_queue=worker.task_queue)

        async def awaiting_release():
            stage = (await run.query(PaymentRun.status))["stage"]
            assert stage == "awaiting release: 119000.00 EUR above 100000", stage

        await assert_eventually(awaiting_release)
        refused = {
            "typed name": await refusal(run, "release", {"released_by": "treasury.tom"}),
            "wrong role": await refusal(run, "release", decision_input(issuer, run_id, "release", "ap.bob")),
            "requester": await refusal(run, "release", decision_input(issuer, run_id, "release", "treasury.rita")),
            "approver": await refusal(run, "release", decision_input(issuer, run_id, "release", "treasury.rob")),
            "other run": await refusal(run, "release", decision_input(issuer, run_id + "-x", "release", "treasury.ria",
                                                                      roles=(TREASURY_RELEASER,))),
        }
        still = (await run.query(PaymentRun.status))["stage"]
        await run.execute_update("release", decision_input(issuer, run_id, "release", "treasury.ria",
                                                           roles=(TREASURY_RELEASER,), note="checked the big one"))
        summary = await run.result()
        await wait_for_status(lifecycle, "SENT_TO_BANK")
        await lifecycle.terminate("test done")

    assert anonymous.value.cause.type == "RunRequestRefused"
    assert "request_run token" in anonymous.value.cause.message
    assert "signed decision token" in refused["typed name"]
    assert "needs one of the roles treasury-releaser" in refused["wrong role"]
    assert "treasury.rita requested this run" in refused["requester"]
    assert "treasury.rob approved invoices in this run" in refused["approver"]
    assert f"is for '{run_id}-x'" in refused["other run"]
    assert still.startswith("awaiting release")
    assert (summary.requested_by, summary.released_by, summary.release_above) == (
        "treasury.rita", "treasury.ria", Decimal("100000"))
    assert summary.paid_invoices == 1
    assert [(d.decision, d.who) for d in summary.decisions] == [("request_run", "treasury.rita"),
                                                                 ("release", "treasury.ria")]
    assert all(d.verified_by and d.verified_by.startswith("jwt:finsync-dev-issuer#") for d in summary.decisions)


async def test_bank_details_are_confirmed_by_a_verified_master_data_person_not_the_erp_named_changer(
        client, sap_server, store, issuer):
    named, unknown = (Invoice.model_validate(invoice_json()) for _ in range(2))
    cooling = ControlPolicy(bank_details_cooling_off_hours=1)
    async with new_worker(client, sap_server, store, controls=cooling) as worker:
        handles = [await client.start_workflow(InvoiceToPayment.run, i, id=i.workflow_id, task_queue=worker.task_queue)
                   for i in (named, unknown)]
        for handle in handles:
            await wait_for_status(handle, "SCHEDULED")
        by_erp, by_nobody = handles
        await by_erp.signal(InvoiceToPayment.bank_details_changed, bank_change(named, changed_by="md.max"))
        await by_nobody.signal(InvoiceToPayment.bank_details_changed, bank_change(unknown, changed_by=None))
        held_named, held_unknown = await held_under(by_erp, "BankDetailsChanged"), await held_under(
            by_nobody, "BankDetailsChanged")
        wid = by_erp.id
        refused = {
            "typed name": await refusal(by_erp, "confirm_bank_details", {"confirmed_by": "md.mia", "note": "ok"}),
            "no master data": await refusal(by_erp, "confirm_bank_details", decision_input(
                issuer, wid, "confirm_bank_details", "ap.alice", note="looks fine")),
            "the changer": await refusal(by_erp, "confirm_bank_details", decision_input(
                issuer, wid, "confirm_bank_details", "md.max", note="it was me")),
        }
        await by_erp.execute_update("confirm_bank_details", decision_input(
            issuer, wid, "confirm_bank_details", "md.mia", note="called the supplier back"))
        # Where the ERP names nobody, any verified master-data person confirms: md.max here.
        await by_nobody.execute_update("confirm_bank_details", decision_input(
            issuer, by_nobody.id, "confirm_bank_details", "md.max", note="called the supplier back"))
        confirmed = await wait_for_status(by_erp, "SCHEDULED")
        cooling_off = await refusal(by_erp, InvoiceToPayment.reserve_for_payment_run, inclusion())
        for handle in handles:
            await handle.terminate("test done")

    assert "changed by md.max" in held_named.open_exception.reason
    assert "an unknown person: the ERP keeps no changer" in held_unknown.open_exception.reason
    assert "signed decision token" in refused["typed name"]
    assert "needs one of the roles master-data" in refused["no master data"]
    assert "four eyes" in refused["the changer"]
    [decision] = [d for d in confirmed.decisions if d.decision == "confirm_bank_details"]
    assert (decision.decision, decision.who, decision.after) == ("confirm_bank_details", "md.mia", "confirmed")
    assert decision.verified_by and decision.verified_by.startswith("jwt:finsync-dev-issuer#")
    assert confirmed.closed_exceptions[-1].resolved_by == "md.mia"
    assert any(f"by md.mia, verified {decision.verified_by}" in h.note for h in confirmed.history)
    assert "cooling-off" in cooling_off


async def test_an_einvoice_asking_payment_to_a_foreign_account_is_a_master_data_case_and_nothing_is_paid(
        client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json())
    document = f"{invoice.key}|foreign|{uuid.uuid4()}"
    receipt = EInvoiceReceipt(
        invoice_key=invoice.key, document_id=invoice.supplier_invoice_ref,
        sha256=hashlib.sha256(document.encode()).hexdigest(), received_at=datetime.now(UTC),
        issue_date=invoice.invoice_date, currency=invoice.currency, gross_amount=invoice.gross_amount,
        supplier_endpoint="0088:5790000435951", payee_iban=FOREIGN_IBAN)
    async with new_worker(client, sap_server, store) as worker:
        # As intake starts it: signal-with-start, the document's receipt before anything else.
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue, start_signal="einvoice_received",
                                             start_signal_args=[receipt])
        held = await held_under(handle, "PayeeAccountMismatch")
        not_payable = await refusal(handle, InvoiceToPayment.reserve_for_payment_run, inclusion())
        in_erp = await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)
        await handle.terminate("test done")

    case = held.open_exception
    assert held.status.value == "ON_HOLD" and case.owner.value == "master-data"
    assert "GB…5555" in case.reason and "NL…0002" in case.reason
    assert FOREIGN_IBAN not in case.reason and "NL14MOCK0000000002" not in case.reason
    assert "not payable" in not_payable and held.payment_attempts == [] and in_erp == []


async def test_a_bank_change_between_validation_and_reservation_holds_the_invoice(client, sap_server, store, issuer):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store, controls=NO_COOLING_OFF) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")  # validated: pays GLOBEX's NL14MOCK0000000002
        # Then the vendor sync sees another account under GLOBEX's 0001 in the ERP.
        other = "NL91MOCK0000000099"
        VendorStore(store.engine).apply(
            "test-sync", [VendorRecord(supplier_id="1000013", name="GLOBEX")], [],
            {"1000013": [VendorBankAccount(bank_account_id="0001", country="NL", masked="****0099",
                                           fingerprint=fingerprint(other, DEVELOPMENT_FINGERPRINT_KEY),
                                           has_iban=True, iban_valid=True)]},
            None, None, datetime.now(UTC))
        changed = await refusal(handle, InvoiceToPayment.reserve_for_payment_run, inclusion())
        held = await held_under(handle, "BankDetailsChanged")
        await handle.execute_update("confirm_bank_details", decision_input(
            issuer, handle.id, "confirm_bank_details", "md.mia", note="the supplier confirmed NL…0002 by phone"))
        await wait_for_status(handle, "SCHEDULED")
        reserved = await handle.execute_update(InvoiceToPayment.reserve_for_payment_run, inclusion("2"))
        await handle.terminate("test done")

    assert "not the one the vendor master holds (****0099)" in changed
    assert held.status.value == "ON_HOLD" and held.open_exception.owner.value == "master-data"
    assert reserved.instruction.creditor_iban == "NL14MOCK0000000002"  # the confirmed account, the store lagging
