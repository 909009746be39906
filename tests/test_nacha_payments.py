"""A US entity (company code 1010, USD) pays its US suppliers from a NACHA account (ACMEUS at
mock-bank, created as a nacha-format account): against the real dev server, mock-sap and
mock-bank. One supplier is paid, settled and cleared from the BAI2 statement; the other's bank
answers R03 (no account / unable to locate: its account at the bank is held with bad-bank-id)
and the invoice waits for AP's remediation, as an AC01/RC01 rejection does. A supplier with a
bank number that is not an ABA routing number stays a master-data case."""

import random

import pytest

from adapters.nacha.builder import individual_id
from canonical.invoice import Invoice
from canonical.supplier import CompanyCode
from settings import DEFAULT_COMPANY_CODES, DEFAULT_PAYING_ACCOUNTS
from tests import bank_admin, sap_admin
from tests.adapters.fixtures.capture_nacha import ACMEUS, ACMEUS_AT_THE_BANK
from tests.clock import business_today
from tests.helpers import invoice_json, new_worker, path, run_request, wait_for_history, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id

pytestmark = pytest.mark.clock_sensitive

US_ENTITY = {"paying_accounts": {**DEFAULT_PAYING_ACCOUNTS, "ACMEUS": ACMEUS},
             "company_codes": {**DEFAULT_COMPANY_CODES, "1010": CompanyCode(
                 company_code="1010", name="ACME Americas Inc.", country="US", currency="USD")}}
# mock-bank holds EURODIS (account number 0000000004) with bad-bank-id: a NACHA entry to it at
# the bank's own routing number is rejected RC01, which a NACHA account is told as R03.
UNLOCATABLE = ("999999992", "0000000004")


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)
    await bank_admin.create_account(bank_server, **ACMEUS_AT_THE_BANK)


async def us_supplier(sap_url: str, name: str, routing: str, account: str) -> str:
    supplier_id = f"3{random.randrange(10 ** 6):06d}"
    await sap_admin.create_supplier(sap_url, supplier_id, name)
    await sap_admin.add_us_bank_account(sap_url, supplier_id, "0001", routing, account)
    return supplier_id


def us_invoice(supplier_id: str) -> Invoice:
    return Invoice.model_validate(invoice_json(supplier_id=supplier_id, company_code="1010", currency="USD"))


async def test_a_us_supplier_is_paid_in_a_nacha_file_and_another_returned_r03_goes_to_remediation(
        client, sap_server, bank_server, store):
    paid = us_invoice(await us_supplier(sap_server, "Quantum Components", "021000021", "123456789"))
    refused = us_invoice(await us_supplier(sap_server, "Helios Energy", *UNLOCATABLE))
    async with new_worker(client, sap_server, store, bank_url=bank_server, settings_fields=US_ENTITY) as worker:
        handles = [await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                               task_queue=worker.task_queue) for invoice in (paid, refused)]
        for handle in handles:
            await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            request = run_request(payment_run_workflow_id("ACMEUS"), paying_account_id="ACMEUS",
                                  run_date=business_today(), horizon_days=60)
            summary = await client.execute_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACMEUS"),
                                                    task_queue=worker.task_queue)
            assert summary.paid_invoices == 2 and str(summary.total) == "2380.00", summary
            held = await wait_for_status(handles[1], "AWAITING_REMEDIATION", timeout=40)
            await wait_for_history(handles[0], "ACCEPTED")
            view = await advance_until(handles[0], "COMPLETED", bank_server)
            # The return file of the rejected entry comes the next business day: the same answer again.
            after = await wait_for_status(handles[1], "AWAITING_REMEDIATION")
    assert held.open_exception.owner.value == "ap-remediation", held.open_exception
    assert "R03 no account, or unable to locate the account" in held.open_exception.reason
    [rejected] = held.payment_attempts
    assert rejected.outcome == "rejected" and rejected.reason_code == "R03"
    assert [a.outcome for a in after.payment_attempts] == ["rejected"]
    states = path(view)
    assert states[states.index("SCHEDULED"):] == [
        "SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"], states
    [attempt] = view.payment_attempts
    assert attempt.outcome == "settled" and attempt.message_id == summary.message_ids[0]
    # The bank knows the payment by the 15 characters the NACHA entry carried, in USD, paid once.
    [booked] = await bank_admin.payments_for(bank_server, individual_id(attempt.end_to_end_id))
    assert (booked["amount"], booked["currency"], booked["account_id"]) == (119000, "USD", "ACMEUS"), booked
    doc = view.erp_document
    erp = await sap_admin.get_invoice(sap_server, doc.invoice_document, doc.fiscal_year)
    assert erp["PaymentRunID"] == ""  # cleared from the BAI2 statement, which released the claim
    [position] = [p for p in store.cash_positions("1010") if p.actual_outflow]
    assert str(position.actual_outflow) == "1190.00"


async def test_a_us_bank_number_that_is_no_aba_routing_number_is_a_master_data_case(client, sap_server, store):
    # mock-sap's own US suppliers carry the German bank number 37040044 (8 digits).
    invoice = us_invoice("1000010")
    async with new_worker(client, sap_server, store, settings_fields=US_ENTITY) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        held = await wait_for_status(handle, "ON_HOLD")
    assert held.open_exception.type == "InvalidBankAccount", held.open_exception
    assert "ABA routing number is 9 digits" in held.open_exception.reason
