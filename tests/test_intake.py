"""E-invoice intake: a real mock-einvoice pushes Peppol UBL to the endpoint on a real socket
(or the app is called in-process through httpx.ASGITransport), and what Temporal holds
afterwards is the judge: one lifecycle per invoice key, one signal per push."""

import copy
import uuid

import httpx
import pytest
from lxml import etree
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError

from adapters.sap import SapClient
from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus, InvoiceStatus
from codec.bank_details import KEY_ID_METADATA, load_intake_codec
from intake import app as intake_app
from intake import mapping, rules, ubl
from intake.suppliers import DEFAULT_REGISTER
from settings import Settings
from tests import sap_admin
from tests.helpers import assert_eventually, decide, new_worker
from tests.intake_helpers import (
    IBAN,
    INTAKE_SETTINGS,
    Signed,
    bill,
    document,
    endpoint_app,
    exists,
    new_number,
    reading_client,
    reading_codec,
    receipts,
    send,
    signals,
    supplier_pushing,
    workflow_id,
)


@pytest.fixture
def task_queue() -> str:
    return f"intake-{uuid.uuid4()}"  # no worker polls it: lifecycles stay where intake put them


@pytest.fixture
async def cleanup(client: Client):
    """Workflow ids to terminate after the test, so no test leaves lifecycles on the session server."""
    ids: list[str] = []
    yield ids
    for wid in ids:
        try:
            await client.get_workflow_handle(wid).terminate("intake test done")
        except RPCError:
            pass


@pytest.fixture
async def intake(client: Client, task_queue: str):
    """The app in-process, every push signed as the test access point."""
    app = endpoint_app(client, task_queue)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake",
                                 auth=Signed()) as http:
        yield http


async def test_order_invoice_pushed_by_mock_einvoice_starts_its_lifecycle(client, task_queue, cleanup, tmp_path):
    async with supplier_pushing(client, task_queue, tmp_path / "mock.log") as mock:
        sent = await bill(mock, "4500000102", [{"line": "00010", "name": "Widget", "quantity": "4", "unit": "C62",
                                                "price": "12.50"}])
    assert sent["verdict"] == "valid" and sent["delivery"]["status"] == 201, sent
    handle = client.get_workflow_handle(workflow_id(sent["number"]))
    cleanup.append(handle.id)
    described = await handle.describe()
    assert described.workflow_type == "InvoiceToPayment" and described.task_queue == task_queue
    [receipt] = await receipts(client, handle)
    assert (receipt.document_id, str(receipt.gross_amount), receipt.payee_iban) == (sent["number"], "59.50", IBAN)


async def test_same_document_pushed_twice_is_one_lifecycle_with_one_receipt(client, task_queue, cleanup, tmp_path):
    number = new_number()
    cleanup.append(workflow_id(number))
    async with supplier_pushing(client, task_queue, tmp_path / "mock.log") as mock:
        first, again = [await send(mock, document("valid.xml", number)) for _ in range(2)]
    assert first["delivery"]["status"] == again["delivery"]["status"] == 201  # idempotent, as an access point
    handle = client.get_workflow_handle(workflow_id(number))
    starts = [e async for e in handle.fetch_history_events()
              if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]
    assert len(starts) == 1
    assert len(await receipts(client, handle)) == 1  # the second, byte-identical push signalled nothing

    async def one_in_visibility() -> None:
        assert (await client.count_workflows(f"WorkflowId = '{handle.id}'")).count == 1
    await assert_eventually(one_in_visibility)


async def test_same_number_different_amount_reaches_the_same_lifecycle(client, intake, cleanup):
    number = new_number()
    cleanup.append(workflow_id(number))
    first = await intake.post("/invoices", content=document("valid.xml", number))
    other = await intake.post("/invoices", content=document("charge.xml", number))  # 410.55 instead of 386.75
    assert (first.status_code, other.status_code) == (201, 201), other.text
    assert (first.json()["started"], other.json()["started"]) == (True, False)
    handle = client.get_workflow_handle(workflow_id(number))
    grosses = [str(r.gross_amount) for r in await receipts(client, handle)]
    assert grosses == ["386.75", "410.55"]  # the lifecycle sees the conflict (DuplicateReferenceConflict)
    assert len({r.sha256 for r in await receipts(client, handle)}) == 2


async def test_invoice_failing_a_fatal_rule_is_refused_and_starts_nothing(client, task_queue, intake, tmp_path):
    number = new_number()
    broken = document("br-co-16-payable.xml", number)
    async with supplier_pushing(client, task_queue, tmp_path / "mock.log") as mock:
        sent = await send(mock, broken, force=True)  # a sender that does not check first
    assert (sent["verdict"], sent["delivery"]["status"]) == ("invalid", 422)
    answer = await intake.post("/invoices", content=broken)
    assert answer.status_code == 422
    assert [f["code"] for f in answer.json()["findings"]] == ["BR-CO-16"]
    assert not await exists(client, workflow_id(number))


@pytest.mark.parametrize("name, body, code", [
    ("an Order", document("not-an-invoice.xml"), "NOT-AN-INVOICE"),
    ("plain text", b"hello, this is not XML", "NOT-AN-INVOICE"),
    ("nothing", b"", "NOT-AN-INVOICE"),
    ("CII instead of UBL", document("cii.xml"), "CII"),
    ("a DTD with an entity", document("dtd.xml"), "DTD"),
    ("a credit note", b'<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"/>',
     "CREDIT-NOTE"),
])
async def test_not_an_invoice_is_400_with_a_code(intake, name, body, code):
    answer = await intake.post("/invoices", content=body)
    assert (answer.status_code, answer.json()["code"]) == (400, code), name


async def test_a_body_over_the_limit_is_413(intake, monkeypatch):
    monkeypatch.setattr(intake_app, "MAX_BODY", 1000)
    answer = await intake.post("/invoices", content=document("valid.xml"))
    assert (answer.status_code, answer.json()["code"]) == (413, "TOO-LARGE")


async def test_unknown_supplier_endpoint_is_refused(client, task_queue, intake, tmp_path):
    number = new_number()
    unknown = document("unknown-supplier.xml", number)
    async with supplier_pushing(client, task_queue, tmp_path / "mock.log") as mock:
        sent = await send(mock, unknown)  # valid to Peppol: only finsync's register does not know it
    assert (sent["verdict"], sent["delivery"]["status"]) == ("valid", 422)
    answer = await intake.post("/invoices", content=unknown)
    assert [f["code"] for f in answer.json()["findings"]] == ["FS-UNKNOWN-SUPPLIER"]
    assert "0088:4012345000047" in answer.json()["findings"][0]["message"]
    assert not await exists(client, f"invoice-1710-1000013-{number}")


@pytest.mark.parametrize("path, value, rule_text", [
    ("cac:OrderReference/cbc:ID", "4500')/x", "purchase order (BT-13) \"4500')/x\""),
    ("cac:OrderReference/cbc:ID", "45 00#1", "letters and digits only"),
    ("cac:InvoiceLine/cac:OrderLineReference/cbc:LineID", "1?a", "order line (BT-132) '1?a'"),
])
async def test_a_po_number_with_characters_a_po_can_not_have_is_refused(client, intake, path, value, rule_text):
    number = new_number()
    root = etree.fromstring(document("valid.xml", number))
    root.xpath(path, namespaces=ubl.NS)[0].text = value
    answer = await intake.post("/invoices", content=etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert answer.status_code == 422
    [finding] = answer.json()["findings"]
    assert finding["code"] == "FS-PO-NUMBER" and rule_text in finding["message"], finding
    assert not await exists(client, workflow_id(number))


def test_a_po_number_of_letters_and_digits_is_carried_to_the_invoice_lines():
    root = etree.fromstring(document("valid.xml"))
    root.xpath("cac:OrderReference/cbc:ID", namespaces=ubl.NS)[0].text = "PO4500A"
    doc = ubl.read(ubl.parse(etree.tostring(root)))
    assert rules.check(doc) == []
    invoice, findings = mapping.to_canonical(doc, DEFAULT_REGISTER)
    assert findings == [] and {ln.po_number for ln in invoice.lines} == {"PO4500A"}


async def test_a_closed_lifecycle_is_not_started_again(client, intake, cleanup):
    number = new_number()
    cleanup.append(workflow_id(number))
    assert (await intake.post("/invoices", content=document("valid.xml", number))).status_code == 201
    await client.get_workflow_handle(workflow_id(number)).terminate("paid and closed, say")
    same = await intake.post("/invoices", content=document("valid.xml", number))
    assert (same.status_code, same.json().get("duplicate")) == (201, True)  # the same bytes: already received
    resent = await intake.post("/invoices", content=document("valid.xml", number) + b"\n")  # another document
    assert (resent.status_code, resent.json()["code"]) == (409, "ALREADY-CLOSED")


async def test_cli_started_invoice_skips_intake_and_a_later_push_joins_it(client, intake, task_queue, cleanup):
    number = new_number()
    canonical, _ = mapping.to_canonical(ubl.read(ubl.parse(document("valid.xml", number))), DEFAULT_REGISTER)
    cleanup.append(canonical.workflow_id)
    handle = await client.start_workflow("InvoiceToPayment", canonical, id=canonical.workflow_id, task_queue=task_queue,
                                         id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)  # as the CLI does
    assert await signals(handle) == []
    pushed = await intake.post("/invoices", content=document("valid.xml", number))
    assert (pushed.status_code, pushed.json()["workflow_id"], pushed.json()["started"]) == (201, handle.id, False)
    assert len(await signals(handle)) == 1


async def test_bank_details_of_the_receipt_are_encrypted_and_never_logged(client, intake, cleanup, caplog):
    number = new_number()
    cleanup.append(workflow_id(number))
    assert (await intake.post("/invoices", content=document("valid.xml", number))).status_code == 201
    raw = [e async for e in client.get_workflow_handle(workflow_id(number)).fetch_history_events()]
    [signal] = [e.workflow_execution_signaled_event_attributes for e in raw
                if e.HasField("workflow_execution_signaled_event_attributes")]
    assert signal.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
    assert signal.input.payloads[0].metadata[KEY_ID_METADATA] == INTAKE_SETTINGS.intake_codec_key_id.encode()
    assert IBAN.encode() not in b"".join(e.SerializeToString() for e in raw)
    assert IBAN not in caplog.text


async def test_charges_become_lines_that_add_up_to_the_tax_base():
    invoice, findings = mapping.to_canonical(ubl.read(ubl.parse(document("charge.xml"))), DEFAULT_REGISTER)
    assert findings == [] and isinstance(invoice, Invoice)
    assert [(line.description, str(line.net_amount)) for line in invoice.lines][-1] == ("Charge: Freight", "20.00")
    amounts = (str(invoice.net_amount), str(invoice.tax_amount), str(invoice.gross_amount))
    assert amounts == ("345.00", "65.55", "410.55")
    assert (invoice.company_code, invoice.supplier_id, invoice.net_due_date.isoformat()) == ("1710", "1000013",
                                                                                             "2026-12-20")


def test_a_charge_without_an_amount_is_refused_not_a_crash():
    """BR-36: a second charge with no amount passes the totals (it counts as nothing) and
    would reach the mapping, which has no amount to put on its line."""
    root = etree.fromstring(document("charge.xml"))
    charge = root.find("cac:AllowanceCharge", ubl.NS)
    second = copy.deepcopy(charge)
    second.remove(second.find("cbc:Amount", ubl.NS))
    charge.addnext(second)
    assert [f.code for f in rules.check(ubl.read(ubl.parse(etree.tostring(root))))] == ["BR-36"]


async def test_pushed_invoice_is_validated_against_the_erp(client, sap_server, store, task_queue, cleanup, tmp_path,
                                                           issuer):
    """With a worker, the pushed invoice moves on like a CLI-started one once approved (a
    supplier's e-invoice is not approved in the AP platform): its PO is the ERP's."""
    async with SapClient.from_settings(Settings(sap_url=sap_server)) as sap:
        po = await sap.get_purchase_order("4500000102")
    assert (po.supplier_id, po.company_code) == ("1000013", "1710"), "mock-sap's seed changed"
    # mock-einvoice's Globex asks payment to its own IBAN: the ERP must hold it for the supplier,
    # or the invoice is a PayeeAccountMismatch case for master data (test_verified_treasury_decisions).
    await sap_admin.add_bank_account_if_missing(sap_server, "1000013", "0077", IBAN, "DEUTDEFFXXX")
    units = {"H": "HUR", "KG": "KGM"}  # SAP's units as UN/ECE Recommendation 20 codes, which Peppol asks for
    lines = [{"line": item.item, "name": item.description or "item", "quantity": "2",
              "unit": units.get(item.unit, "C62"), "price": str(item.net_price)} for item in po.items]
    async with new_worker(reading_client(client), sap_server, store, task_queue=task_queue):
        async with supplier_pushing(client, task_queue, tmp_path / "mock.log") as mock:
            sent = await bill(mock, po.po_number, lines)
        assert sent["delivery"]["status"] == 201, sent
        cleanup.append(workflow_id(sent["number"]))
        handle = client.get_workflow_handle(workflow_id(sent["number"]))

        async def awaiting_approval() -> None:
            view = await handle.query("status", result_type=InvoiceLifecycleStatus)
            assert view.status == InvoiceStatus.AWAITING_APPROVAL, view.history
        await assert_eventually(awaiting_approval, timeout=30)
        await decide(handle, issuer, "approve", "ap.bob")

        async def validated() -> InvoiceLifecycleStatus:
            view = await handle.query("status", result_type=InvoiceLifecycleStatus)
            assert InvoiceStatus.VALIDATED in [h.status for h in view.history], view.history
            return view
        view = await assert_eventually(validated, timeout=30)
    assert view.history[0].status == InvoiceStatus.RECEIVED
    # Least privilege: the worker wrote the validated bank account under its key, intake the
    # receipt under its own; intake's codec reads its own payload and none of the worker's.
    encrypted = {}
    async for event in handle.fetch_history_events():
        for field in event.DESCRIPTOR.fields:
            if field.name.endswith("_attributes") and event.HasField(field.name):
                for payload in _payloads(getattr(event, field.name)):
                    if payload.metadata.get("encoding") == b"binary/encrypted":
                        encrypted.setdefault(payload.metadata[KEY_ID_METADATA].decode(), []).append(payload)
    assert set(encrypted) == {"finsync-1", INTAKE_SETTINGS.intake_codec_key_id}, encrypted.keys()
    intake_codec = load_intake_codec(INTAKE_SETTINGS)
    assert len(await intake_codec.decode(encrypted[INTAKE_SETTINGS.intake_codec_key_id])) == 1
    for payload in encrypted["finsync-1"]:
        with pytest.raises(ValueError, match="which this codec does not have"):
            await intake_codec.decode([payload])
    assert len(await reading_codec().decode(encrypted["finsync-1"])) == len(encrypted["finsync-1"])


def _payloads(attributes) -> list:
    """Every payload of one history event's attributes (input, result, details, ...)."""
    found = []
    for field, value in attributes.ListFields():
        if field.message_type is not None and field.message_type.name == "Payloads":
            found += list(value.payloads)
        elif field.message_type is not None and field.message_type.name == "Payload":
            found.append(value)
        elif field.message_type is not None and field.message_type.GetOptions().map_entry:
            # A marker's details (a local activity's result): Payloads by name.
            found += [p for entry in value.values() if hasattr(entry, "payloads") for p in entry.payloads]
    return found
