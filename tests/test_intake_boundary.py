"""Intake as an authenticated, least-privilege boundary, against the real endpoint on a socket,
the real mock-einvoice and the session's dev server: only a known sender's signed, fresh push
is read (401 otherwise, starting nothing), at that sender's rate (429), a byte-identical push is
answered as the first without touching the lifecycle, and an invoice gets a bounded number of
distinct documents (409 beyond, counted, the lifecycle told at 1, 2, 4, ...)."""

import asyncio
import base64
import time
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from canonical.einvoice import EInvoiceReceipt, EInvoiceRefusals
from cli.processes import BIN, ManagedProcess, free_port
from cli.stack_intake import intake_processes
from codec.bank_details import BankDetailsCodec, data_converter, read_only_keys
from intake.app import REFUSED_SIGNAL, SIGNAL
from intake.signature import signed_headers
from tests.helpers import TEST_CODEC_KEY
from tests.intake_helpers import (
    SECRET,
    SENDER,
    Signed,
    bill,
    document,
    endpoint_app,
    exists,
    new_number,
    served,
    signals,
    supplier_pushing,
    workflow_id,
)
from tests.servers import running

LINES = [{"line": "00010", "name": "Widget", "quantity": "4", "unit": "C62", "price": "12.50"}]


@pytest.fixture
def task_queue() -> str:
    return f"intake-boundary-{uuid.uuid4()}"  # no worker polls it: lifecycles stay where intake put them


@pytest.fixture
async def cleanup(client: Client):
    ids: list[str] = []
    yield ids
    for wid in ids:
        try:
            await client.get_workflow_handle(wid).terminate("intake boundary test done")
        except RPCError:
            pass


async def history_length(client: Client, wid: str) -> int:
    return len([e async for e in client.get_workflow_handle(wid).fetch_history_events()])


async def test_mock_einvoice_unsigned_is_401_and_starts_nothing_signed_through_the_relay_is_201(
        client, task_queue, cleanup, tmp_path):
    async with supplier_pushing(client, task_queue, tmp_path / "direct.log", signing=False) as mock:
        unsigned = await bill(mock, "4500000102", LINES)
    assert (unsigned["verdict"], unsigned["delivery"]["status"]) == ("valid", 401), unsigned
    assert not await exists(client, workflow_id(unsigned["number"]))
    async with supplier_pushing(client, task_queue, tmp_path / "relayed.log") as mock:
        signed = await bill(mock, "4500000102", LINES)
    cleanup.append(workflow_id(signed["number"]))
    assert signed["delivery"]["status"] == 201, signed
    assert [s.signal_name for s in await signals(client.get_workflow_handle(workflow_id(signed["number"])))] == [SIGNAL]


@pytest.mark.parametrize("case", ["no headers", "wrong secret", "unknown sender", "body changed", "stale", "future"])
async def test_a_push_that_is_not_signed_right_and_fresh_is_401_and_starts_nothing(client, task_queue, case):
    number = new_number()
    body = document("valid.xml", number)
    now = int(time.time())
    headers = {
        "no headers": {},
        "wrong secret": signed_headers(SENDER, SECRET + "x", body),
        "unknown sender": signed_headers("someone-else", SECRET, body),
        "body changed": signed_headers(SENDER, SECRET, body + b" "),
        "stale": signed_headers(SENDER, SECRET, body, timestamp=now - 301),  # a push captured and replayed later
        "future": signed_headers(SENDER, SECRET, body, timestamp=now + 360),  # margin: the server answers later
    }[case]
    async with served(endpoint_app(client, task_queue)) as http:
        answer = await http.post("/invoices", content=body, headers=headers)
        started_nothing = not await exists(client, workflow_id(number))
        fresh = await http.post("/invoices", content=body, auth=Signed())  # the sender's own push of the same bytes
    assert (answer.status_code, answer.json()["code"]) == (401, "UNAUTHENTICATED"), case
    assert started_nothing and SECRET not in answer.text
    # Not taken for a known document either: the same bytes, signed, start the lifecycle.
    assert fresh.status_code == 201 and fresh.json()["started"] is True
    await client.get_workflow_handle(workflow_id(number)).terminate("test done")


async def test_a_thousand_identical_pushes_leave_the_history_as_one_push_left_it(client, task_queue, cleanup):
    """A retrying (or hostile) sender: the same bytes again are answered as the first and signal nothing."""
    number = new_number()
    cleanup.append(workflow_id(number))
    body = document("valid.xml", number)
    async with served(endpoint_app(client, task_queue), auth=Signed(), timeout=60) as http:
        first = await http.post("/invoices", content=body)
        after_one = await history_length(client, workflow_id(number))
        answers = []
        for _ in range(50):  # 20 at a time: copies in flight together are recognised too
            answers += await asyncio.gather(*(http.post("/invoices", content=body) for _ in range(20)))
    assert first.status_code == 201 and first.json()["started"] is True
    assert {a.status_code for a in answers} == {201} and all(a.json()["duplicate"] for a in answers)
    assert await history_length(client, workflow_id(number)) == after_one
    assert len(await signals(client.get_workflow_handle(workflow_id(number)))) == 1


async def test_a_sender_over_its_rate_gets_429_and_another_sender_does_not(client, task_queue):
    senders = {SENDER: SECRET, "second-ap": "a-different-secret-of-the-second-access-point"}
    body = b"not an invoice: the rate is checked before the body is read as one"
    async with served(endpoint_app(client, task_queue, rate=0.01, burst=3, senders=senders)) as http:
        first = [await http.post("/invoices", content=body, auth=Signed()) for _ in range(4)]
        other = await http.post("/invoices", content=body, auth=Signed("second-ap", senders["second-ap"]))
    assert [a.status_code for a in first] == [400, 400, 400, 429]
    assert first[3].json()["code"] == "RATE-LIMITED" and int(first[3].headers["Retry-After"]) >= 1
    assert other.status_code == 400


async def test_after_k_documents_an_invoice_gets_no_more_and_its_lifecycle_is_told_how_many(
        client, task_queue, cleanup):
    """A flood of documents with another amount under one invoice number: 4 reach the lifecycle
    (the first and 3 conflicting), the rest are refused at the boundary and counted."""
    number = new_number()
    wid = workflow_id(number)
    cleanup.append(wid)
    conflicting = [document("charge.xml", number) + b"\n" * i for i in range(10)]  # 410.55, not 386.75
    async with served(endpoint_app(client, task_queue, documents_per_invoice=4), auth=Signed()) as http:
        first = await http.post("/invoices", content=document("valid.xml", number))
        answers = [await http.post("/invoices", content=body) for body in conflicting]
        again = await http.post("/invoices", content=conflicting[-1])  # a refused document once more
        length = await history_length(client, wid)
        more = [await http.post("/invoices", content=conflicting[-1]) for _ in range(20)]
    assert first.status_code == 201
    assert [a.status_code for a in answers] == [201] * 3 + [409] * 7
    assert [a.json()["refused"] for a in answers[3:]] == [1, 2, 3, 4, 5, 6, 7]
    assert answers[-1].json()["code"] == "TOO-MANY-DOCUMENTS" and "4 distinct documents" in answers[-1].json()["reason"]
    assert (again.status_code, again.json()["refused"]) == (409, 7)  # answered as before, not counted twice
    assert {a.status_code for a in more} == {409} and await history_length(client, wid) == length
    found = await signals(client.get_workflow_handle(wid))
    assert [s.signal_name for s in found] == [SIGNAL] * 4 + [REFUSED_SIGNAL] * 3
    told = [(await client.data_converter.decode(s.input.payloads, [EInvoiceRefusals]))[0] for s in found[4:]]
    assert [t.refused for t in told] == [1, 2, 4] and {t.limit for t in told} == {4}


def test_intake_refuses_to_start_without_senders_or_its_own_key(tmp_path):
    from tests.helpers import run_module

    no_senders = run_module("intake", "--port", str(free_port()), address="127.0.0.1:9",
                            env={"FINSYNC_INTAKE_CODEC_KEY": "x"})
    assert no_senders.returncode == 2 and "FINSYNC_INTAKE_SENDERS_FILE is not set" in no_senders.stderr
    senders = tmp_path / "senders"
    senders.write_text(f"{SENDER} {SECRET}\n")
    no_key = run_module("intake", "--port", str(free_port()), address="127.0.0.1:9",
                        env={"FINSYNC_INTAKE_SENDERS_FILE": str(senders)})
    assert no_key.returncode == 2 and "no intake payload key" in no_key.stderr
    assert SECRET not in no_key.stderr + no_key.stdout


async def test_the_embedded_stacks_intake_holds_only_its_own_key_and_mock_einvoice_reaches_it_signed(
        client, task_queue, cleanup, tmp_path, temporal_address):
    """`make up`'s wiring (cli/stack_intake.py) as processes: intake and the signing relay from the
    state directory's generated key and sender secret, mock-einvoice pushing to the relay."""
    env = {"TEMPORAL_ADDRESS": temporal_address, "FINSYNC_TASK_QUEUE": task_queue,
           "FINSYNC_INTAKE_DB_URL": f"sqlite:///{tmp_path / 'intake.db'}", "FINSYNC_CODEC_KEY": TEST_CODEC_KEY,
           "FINSYNC_IDENTITY_DEV_DIR": str(tmp_path / "identity")}
    (tmp_path / "logs").mkdir()
    started = []
    try:
        for proc, health in intake_processes(tmp_path, free_port(), free_port(), env):
            started.append(proc.start())
            await asyncio.to_thread(proc.wait_http, health)
        intake, relay = started
        environment = Path(f"/proc/{intake.pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in environment if v.startswith((b"FINSYNC_CODEC_KEY", b"FINSYNC_CODEC_READ_KEYS",
                                                             b"FINSYNC_IDENTITY_DEV_DIR"))]
        relay_port = relay.args[relay.args.index("--port") + 1]
        start = lambda port, log: ManagedProcess(  # noqa: E731
            "mock-einvoice", [str(BIN / "mock-einvoice"), "--port", str(port), "--buyer-url",
                              f"http://127.0.0.1:{relay_port}/invoices", "-q"], log)
        with running(start, tmp_path / "mock-einvoice.log") as mock_url:
            async with httpx.AsyncClient(base_url=mock_url, timeout=30) as mock:
                await mock.patch("/_mock/supplier", json={"number_prefix": f"EI{uuid.uuid4().hex[:6].upper()}-"})
                sent = await bill(mock, "4500000102", LINES)
    finally:
        for proc in reversed(started):
            proc.stop()
    cleanup.append(workflow_id(sent["number"]))
    assert sent["delivery"]["status"] == 201, (sent, (tmp_path / "logs" / "intake.log").read_text())
    for name in ("intake-codec.key", "intake-senders", "codec-read-keys"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0, name
    # What the workers read with: their key and the read-keys file the stack wrote.
    keys = {"finsync-1": base64.b64decode(TEST_CODEC_KEY), **read_only_keys(tmp_path / "codec-read-keys")}
    workers = data_converter(BankDetailsCodec(keys, "finsync-1"))
    [signal] = await signals(client.get_workflow_handle(workflow_id(sent["number"])))
    [receipt] = await workers.decode(signal.input.payloads, [EInvoiceReceipt])
    assert receipt.document_id == sent["number"]
    with pytest.raises(ValueError, match="finsync-intake-1"):
        await client.data_converter.decode(signal.input.payloads, [EInvoiceReceipt])  # the workers' key alone
