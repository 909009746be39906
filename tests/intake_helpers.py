"""What the intake tests share: the UBL fixtures (with a fresh invoice number where a test needs
its own lifecycle), what Temporal holds for a lifecycle (its signals, its receipts, whether it
exists), and mock-einvoice pushing to the endpoint on a real socket."""

import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from lxml import etree
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from cli.processes import BIN, ManagedProcess, free_port
from intake import ubl
from intake.app import SIGNAL, create_app
from intake.models import EInvoiceReceipt
from intake.server import running_server
from intake.suppliers import DEFAULT_REGISTER
from tests.servers import running

UBL = Path(__file__).parent / "fixtures" / "ubl"
IBAN = "DE02120300000000202051"  # the e-invoice's payee account (mock-einvoice's Globex)


def document(name: str, number: str | None = None) -> bytes:
    data = (UBL / name).read_bytes()
    if number is None:
        return data
    root = etree.fromstring(data)  # a fresh invoice number, so each test has its own lifecycle
    for el in root.xpath("cbc:ID | cac:PaymentMeans/cbc:PaymentID", namespaces=ubl.NS):
        el.text = number
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def new_number() -> str:
    return f"EI-{uuid.uuid4().hex[:8].upper()}"


def workflow_id(number: str) -> str:
    return f"invoice-1710-1000013-{number}"


async def signals(handle: WorkflowHandle) -> list:
    return [e.workflow_execution_signaled_event_attributes async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]


async def receipts(client: Client, handle: WorkflowHandle) -> list[EInvoiceReceipt]:
    found = await signals(handle)
    assert {s.signal_name for s in found} <= {SIGNAL}
    return [(await client.data_converter.decode(s.input.payloads, [EInvoiceReceipt]))[0] for s in found]


async def exists(client: Client, wid: str) -> bool:
    try:
        await client.get_workflow_handle(wid).describe()
        return True
    except RPCError as e:
        assert e.status == RPCStatusCode.NOT_FOUND
        return False


@asynccontextmanager
async def supplier_pushing(client: Client, task_queue: str, log: Path):
    """The endpoint on a real port, and mock-einvoice started with --buyer-url pointing at it.
    Yields an HTTP client for mock-einvoice's supplier side."""
    async with running_server(create_app(client, task_queue, DEFAULT_REGISTER), free_port()) as url:
        start = lambda port, log_path: ManagedProcess(  # noqa: E731
            "mock-einvoice", [str(BIN / "mock-einvoice"), "--port", str(port), "--buyer-url", f"{url}/invoices", "-q"],
            log_path)
        with running(start, log) as mock_url:
            async with httpx.AsyncClient(base_url=mock_url, timeout=30) as mock:
                # Its own invoice numbers: the session server is shared with other tests.
                await mock.patch("/_mock/supplier", json={"number_prefix": f"EI{uuid.uuid4().hex[:6].upper()}-"})
                yield mock


async def bill(mock: httpx.AsyncClient, number: str, lines: list[dict]) -> dict:
    buyer = {"name": "ACME Europe B.V.", "endpoint": "0088:8712345000011", "country": "NL",
             "street": "Keizersgracht 1", "city": "Amsterdam", "postal_code": "1015 CJ"}
    response = await mock.post("/_mock/orders", json={"number": number, "buyer": buyer, "lines": lines})
    order = response.raise_for_status().json()
    return (await mock.post(f"/_mock/orders/{order['id']}/invoices")).raise_for_status().json()


async def send(mock: httpx.AsyncClient, xml: bytes, force: bool = False) -> dict:
    sent = await mock.post("/_mock/sent", params={"force": "true"} if force else None, content=xml)
    return sent.raise_for_status().json()
