"""What the intake tests share: the UBL fixtures (with a fresh invoice number where a test needs
its own lifecycle), what Temporal holds for a lifecycle (its signals, its receipts, whether it
exists), the intake as it is deployed (its own payload key, signed pushes from known senders),
and mock-einvoice pushing to the endpoint on a real socket through the signing relay."""

import base64
import uuid
from collections.abc import Generator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from lxml import etree
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from cli.processes import BIN, ManagedProcess, free_port
from codec.bank_details import BankDetailsCodec, data_converter, load_intake_codec
from intake import ubl
from intake.app import SIGNAL, create_app
from intake.boundary import Boundary
from intake.models import EInvoiceReceipt
from intake.push_register import PushRegister
from intake.rate_limit import RateLimiter
from intake.server import running_server
from intake.signature import Senders, signed_headers
from intake.signing_relay import create_relay
from intake.suppliers import DEFAULT_REGISTER
from settings import Settings
from tests.helpers import TEST_CODEC_KEY
from tests.servers import running

UBL = Path(__file__).parent / "fixtures" / "ubl"
IBAN = "DE02120300000000202051"  # the e-invoice's payee account (mock-einvoice's Globex)
SENDER, SECRET = "test-access-point", "intake-test-secret-of-the-sending-access-point"
INTAKE_KEY = base64.b64encode(b"finsync-intake-test-key-32-bytes").decode()
INTAKE_SETTINGS = Settings(intake_codec_key=INTAKE_KEY)


def intake_client(client: Client) -> Client:
    """The session's server, as the intake process reaches it: with intake's own key only."""
    return Client(client.service_client, namespace=client.namespace,
                  data_converter=data_converter(load_intake_codec(INTAKE_SETTINGS)))


def reading_codec() -> BankDetailsCodec:
    """What workers, clients and the codec server hold: their key, and intake's to read receipts."""
    keys = {"finsync-1": base64.b64decode(TEST_CODEC_KEY), INTAKE_SETTINGS.intake_codec_key_id: base64.b64decode(
        INTAKE_KEY)}
    return BankDetailsCodec(keys, "finsync-1")


def reading_client(client: Client) -> Client:
    return Client(client.service_client, namespace=client.namespace, data_converter=data_converter(reading_codec()))


def boundary(documents_per_invoice: int = 10, rate: float = 1000.0, burst: int = 5000,
             senders: dict[str, str] | None = None) -> Boundary:
    """Generous rate limits unless a test is about them: the tests share one server."""
    return Boundary(senders=Senders(senders or {SENDER: SECRET}), limiter=RateLimiter(rate, burst),
                    tolerance_seconds=300, documents_per_invoice=documents_per_invoice)


def endpoint_app(client: Client, task_queue: str, pushes: PushRegister | None = None, **limits):
    return create_app(intake_client(client), task_queue, DEFAULT_REGISTER, pushes, boundary=boundary(**limits))


@asynccontextmanager
async def served(app, **client_options):
    """The app on a real loopback port, and an HTTP client for it."""
    async with running_server(app, free_port()) as url, httpx.AsyncClient(base_url=url, **client_options) as http:
        yield http


class Signed(httpx.Auth):
    """Signs each push as a sending access point does (intake/signature.py)."""

    requires_request_body = True

    def __init__(self, sender: str = SENDER, secret: str = SECRET, timestamp: int | None = None):
        self.sender, self.secret, self.timestamp = sender, secret, timestamp

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(signed_headers(self.sender, self.secret, request.content, self.timestamp))
        yield request


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
    found = [s for s in await signals(handle) if s.signal_name == SIGNAL]
    converter = reading_client(client).data_converter
    return [(await converter.decode(s.input.payloads, [EInvoiceReceipt]))[0] for s in found]


async def exists(client: Client, wid: str) -> bool:
    try:
        await client.get_workflow_handle(wid).describe()
        return True
    except RPCError as e:
        assert e.status == RPCStatusCode.NOT_FOUND
        return False


@asynccontextmanager
async def supplier_pushing(client: Client, task_queue: str, log: Path, signing: bool = True, **limits):
    """The endpoint on a real port, the signing relay in front of it (mock-einvoice can not
    sign), and mock-einvoice started with --buyer-url pointing at the relay (`signing=False`: at
    the endpoint itself, unsigned). Yields an HTTP client for mock-einvoice's supplier side."""
    async with running_server(endpoint_app(client, task_queue, **limits), free_port()) as url, \
            running_server(create_relay(f"{url}/invoices", SENDER, SECRET), free_port()) as relay:
        buyer_url = f"{relay if signing else url}/invoices"
        start = lambda port, log_path: ManagedProcess(  # noqa: E731
            "mock-einvoice", [str(BIN / "mock-einvoice"), "--port", str(port), "--buyer-url", buyer_url, "-q"],
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
