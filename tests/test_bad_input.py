"""Bad input: each gets a clear, typed error and nothing is posted to the ERP."""

import uuid

import pytest
from pydantic import ValidationError
from temporalio.client import Client

from canonical.invoice import Invoice
from tests import sap_admin
from tests.helpers import invoice_json, new_worker, wait_for_status
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment


async def start_and_hold(client: Client, sap_url: str, store, invoice: Invoice, expected_type: str):
    async with new_worker(client, sap_url, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        view = await wait_for_status(handle, "ON_HOLD")
        described = await handle.describe()
        await handle.terminate("test done")
    assert view.open_exception is not None and view.open_exception.type == expected_type, view.open_exception
    assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) == expected_type
    assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) == view.open_exception.owner.value
    assert await sap_admin.invoices_in_erp(sap_url, invoice.supplier_id, invoice.supplier_invoice_ref) == []
    return view.open_exception


async def test_unknown_supplier(client, sap_server, store):
    case = await start_and_hold(client, sap_server, store, Invoice.model_validate(invoice_json(supplier_id="9999999")),
                                "UnknownSupplier")
    assert case.owner.value == "master-data" and "9999999" in case.reason


async def test_blocked_supplier(client, sap_server, store):
    await sap_admin.set_supplier_blocked(sap_server, "1000016", True)
    try:
        case = await start_and_hold(client, sap_server, store,
                                    Invoice.model_validate(invoice_json(supplier_id="1000016")), "SupplierBlocked")
    finally:
        await sap_admin.set_supplier_blocked(sap_server, "1000016", False)
    assert "blocked" in case.reason


async def test_supplier_without_bank_account(client, sap_server, store):
    supplier = f"19{uuid.uuid4().int % 10**5:05d}"
    await sap_admin.create_supplier(sap_server, supplier, "No Bank Ltd")
    case = await start_and_hold(client, sap_server, store, Invoice.model_validate(invoice_json(supplier_id=supplier)),
                                "MissingBankAccount")
    assert supplier in case.reason


async def test_invalid_iban_from_erp(client, sap_server, store):
    # Right mod-97 check digits (SAP accepts it) but too short for a Dutch IBAN.
    supplier = f"18{uuid.uuid4().int % 10**5:05d}"
    await sap_admin.create_supplier(sap_server, supplier, "Short IBAN B.V.")
    await sap_admin.add_bank_account(sap_server, supplier, "0001",
                                     sap_admin.iban_with_valid_checksum("NL", "MOCK000000001"), "MOCKNL2A")
    case = await start_and_hold(client, sap_server, store, Invoice.model_validate(invoice_json(supplier_id=supplier)),
                                "InvalidBankAccount")
    assert "MOCK000000001" not in case.reason  # the case text never carries the account number


async def test_named_bank_account_missing(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json(bank_account_id="0009"))
    case = await start_and_hold(client, sap_server, store, invoice, "MissingBankAccount")
    assert "0009" in case.reason


async def test_currency_mismatch_with_company_code(client, sap_server, store):
    invoice = Invoice.model_validate(invoice_json(currency="USD"))
    case = await start_and_hold(client, sap_server, store, invoice, "CurrencyNotAllowed")
    assert "EUR" in case.reason and "USD" in case.reason and case.owner.value == "ap-remediation"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"net_amount": "0.00", "tax_amount": "0.00", "gross_amount": "0.00"}, "must be positive"),
        ({"net_amount": "-1000.00", "gross_amount": "-810.00"}, "must be positive"),
        ({"gross_amount": 1190.10}, "not the JSON number"),
        ({"net_amount": "999.00", "gross_amount": "1189.00"}, "the lines add up to 1000.00 EUR"),
        ({"gross_amount": "1200.00"}, "but the gross amount is 1200.00"),
        ({"gross_amount": "1190.001"}, "more decimals than EUR allows"),
        ({"currency": "XXX"}, "not an ISO 4217 currency"),
    ],
)
def test_edge_refuses_bad_money(overrides, message):
    with pytest.raises(ValidationError, match=message):
        Invoice.model_validate(invoice_json(**overrides))


def test_edge_refuses_missing_mandatory_field():
    body = invoice_json()
    del body["supplier_id"]
    with pytest.raises(ValidationError, match="supplier_id"):
        Invoice.model_validate(body)


def test_edge_refuses_unknown_field():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Invoice.model_validate(invoice_json(amount="1190.00"))
