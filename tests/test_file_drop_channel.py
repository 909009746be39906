"""A paying account banking through the bank's host-to-host directories (channel "file-drop"),
against a real mock-bank reading its drop directory and writing its pickup directory and the
real dev server: an invoice paid to COMPLETED with no HTTP download read at all, and a worker
killed while picking up the bank's answers, whose every message is then applied once."""

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select
from temporalio.client import Client, WorkflowHandle

from adapters.payment_registers import BankMessageRow
from adapters.treasury_store import TreasuryStore
from canonical.invoice import Invoice
from canonical.payment import BankStatusReport
from tests import clock
from tests.file_drop_bank import DropBank, drop_bank
from tests.file_drop_crash import CRASHED
from tests.helpers import REPO, assert_eventually, invoice_json, new_worker, path, wait_for_history, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import InvoiceToPayment

pytestmark = pytest.mark.clock_sensitive


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[DropBank]:
    with drop_bank(tmp_path / "bank", clock.profile().clock_arg) as running:
        yield running


async def test_invoice_paid_through_the_banks_directories_is_settled_and_cleared(client, sap_server, bank, store):
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank.url,
                          paying_accounts={"ACME": bank.account()}) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            summary = await pay(client, worker.task_queue)
            assert summary.paid_invoices == 1 and str(summary.total) == "1190.00", summary
            await wait_for_history(handle, "ACCEPTED")
            await advance_until(handle, "SETTLED", bank.url)
            view = await advance_until(handle, "COMPLETED", bank.url)
    states = path(view)
    assert states[states.index("SCHEDULED"):] == [
        "SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"], states
    [message_id] = summary.message_ids
    assert (bank.drop_dir / "processed" / f"{message_id}.xml").is_file()  # the bank read our file, once
    assert not [p for p in bank.drop_dir.iterdir() if p.is_file()]
    done = bank.done()
    assert {n.split("-")[0] for n in done} >= {"pain.002.001.10", "camt.054.001.08", "camt.053.001.08"}, done
    with Session(store.engine) as session:
        recorded = {r.bank_message_id.split(":")[0] for r in session.exec(select(BankMessageRow))}
    assert recorded == {n.rsplit("-", 1)[1].removesuffix(".xml") for n in done}  # each picked-up file, once
    # Every answer came through the pickup directory: the bank's HTTP mailbox was never read.
    async with httpx.AsyncClient(base_url=bank.url) as http:
        released = (await http.get("/_mock/messages")).raise_for_status().json()
    assert released and all(m["takenAt"] is None for m in released), released


async def test_a_worker_killed_while_picking_up_answers_applies_each_message_once(client, sap_server, bank,
                                                                                tmp_path):
    store_url = f"sqlite:///{tmp_path / 'treasury.db'}"
    store = TreasuryStore(store_url)
    account = bank.account()
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank.url, paying_accounts={"ACME": account}) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        await pay(client, worker.task_queue)  # no inbox yet: the answers wait in the pickup directory
        await asyncio.to_thread(bank.wait_for_pickup, "pain.002")
        waiting = bank.waiting()

        for point, recorded in (("before-record", 0), ("before-filing-away", len(waiting))):
            crashed = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "tests.file_drop_crash", store_url, bank.url,
                                 account.model_dump_json(), point], cwd=REPO, capture_output=True, text=True,
                timeout=60)
            assert crashed.returncode == CRASHED, crashed.stderr
            assert bank.waiting() == waiting and bank.done() == []  # nothing moved: read again on restart
            assert len(_rows(store)) == recorded, point

        async with bank_inbox(client, worker.task_queue):
            await wait_for_history(handle, "ACCEPTED")

            async def all_applied():
                rows = _rows(store)
                assert len(rows) == len(waiting) and all(r.applied_at for r in rows), rows
                assert bank.waiting() == [] and bank.done() == waiting

            await assert_eventually(all_applied, timeout=30)
    told = await _bank_signals(client, handle)
    assert told and len({r.message_id for r in told}) == len(told), told  # each message told once


def _rows(store: TreasuryStore) -> list[BankMessageRow]:
    with Session(store.engine) as session:
        return list(session.exec(select(BankMessageRow)))


async def _bank_signals(client: Client, handle: WorkflowHandle) -> list[BankStatusReport]:
    found = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attributes = event.workflow_execution_signaled_event_attributes
            if attributes.signal_name != "bank_status":
                continue
            codec = client.data_converter.payload_codec
            [payload] = await codec.decode(attributes.input.payloads) if codec else attributes.input.payloads
            found.append(BankStatusReport.model_validate(json.loads(payload.data)))
    return found
