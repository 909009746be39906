"""No size limit can stick the inbox (issue 8): the real mock-bank answers one payment file of
3,000 payments with one pain.002 naming all of them. Workflow code could signal at most 2,000
lifecycles at once (pending-signal cap) and would write every signal into the inbox's history;
here the signals wait in the treasury store and an activity sends them a bounded number at a
time. Every lifecycle is told exactly once, and the inbox's history holds counts, not signals.

The 3,000 lifecycles are stand-ins: running `InvoiceToPayment` executions on a task queue no
worker polls. Temporal records every signal they are sent in their history whether or not a
worker runs them, and that record is what is checked (a worker would only replay it, at
~50 workflow tasks/s on this box)."""

import asyncio
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlmodel import Session, select
from temporalio.client import Client

from adapters.bank import BankClient
from adapters.iso20022.pain001 import build_pain001
from adapters.payment_registers import BankMessageRow, PaymentRegisters
from canonical.bank import PaymentFile
from canonical.inbox import BankInboxConfig
from canonical.payment import BankStatusReport, PaymentInstruction, PaymentRecord
from settings import DEFAULT_PAYING_ACCOUNTS
from tests import bank_admin
from tests.helpers import assert_eventually, new_worker
from workflows.bank_inbox import BankInbox

# A pain.002 is released at once whatever the day: nothing here depends on the calendar.
pytestmark = pytest.mark.clock_independent
PAYMENTS = 3000
CREDITOR_IBAN = "NL30MOCK0000000005"  # "banked elsewhere": the bank accepts and pays it


async def test_a_pain002_naming_3000_payments_tells_each_lifecycle_once(client, sap_server, bank_server, store):
    await bank_admin.reset(bank_server)
    run = uuid.uuid4().hex[:6].upper()
    message_id = f"FS-SCALE-{run}"
    payments = [PaymentInstruction(invoice_key=f"SCALE-{run}-{n}", attempt=1, end_to_end_id=f"SCALE-{run}-{n}/1",
                                   amount=Decimal("1.00"), currency="EUR", creditor_name="Umbrella Logistics",
                                   creditor_iban=CREDITOR_IBAN,
                                   requested_execution_date=date.today() + timedelta(days=7),
                                   remittance_reference=f"S{run}{n}") for n in range(PAYMENTS)]
    lifecycles = {p.end_to_end_id: f"invoice-scale-{run}-{n}" for n, p in enumerate(payments)}
    PaymentRegisters(store.engine).register_payments([PaymentRecord(
        end_to_end_id=p.end_to_end_id, invoice_key=p.invoice_key, workflow_id=lifecycles[p.end_to_end_id],
        run_key=f"SCALE-{run}", message_id=message_id, payment_info_id=f"{message_id}-P", attempt=1, amount=p.amount,
        currency="EUR", remittance_reference=p.remittance_reference) for p in payments])
    gate, stand_ins = asyncio.Semaphore(64), f"tq-stand-ins-{uuid.uuid4()}"

    async def start(workflow_id: str) -> None:
        async with gate:
            await client.start_workflow("InvoiceToPayment", workflow_id, id=workflow_id, task_queue=stand_ins,
                                        execution_timeout=timedelta(minutes=30))

    await asyncio.gather(*(start(w) for w in lifecycles.values()))
    payment_file = PaymentFile(message_id=message_id, payment_info_id=f"{message_id}-P",
                               created_at=datetime.now(UTC), execution_date=date.today() + timedelta(days=7),
                               debtor=DEFAULT_PAYING_ACCOUNTS["ACME"], payments=payments)
    async with BankClient(bank_server) as bank:
        receipt = await bank.submit_payment_file(build_pain001(payment_file))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        inbox = await client.start_workflow(BankInbox.run, BankInboxConfig(poll_seconds=60),
                                            id=f"bank-inbox-{uuid.uuid4().hex[:6]}", task_queue=worker.task_queue)

        async def applied():
            with Session(store.engine) as session:
                messages = list(session.exec(select(BankMessageRow)))
            assert messages and all(m.applied_at for m in messages), messages

        await assert_eventually(applied, timeout=180, interval=0.5)
        status = await inbox.query("status")
        history = await inbox.fetch_history()
        await inbox.terminate("test done")

    async def told(workflow_id: str) -> list[BankStatusReport]:
        async with gate:
            return await _signals(client, workflow_id)

    answers = dict(zip(lifecycles, await asyncio.gather(*(told(w) for w in lifecycles.values())), strict=True))
    for workflow_id in lifecycles.values():
        await client.get_workflow_handle(workflow_id).terminate("test done")

    assert not receipt.duplicate
    assert {e2e: [(a.end_to_end_id, a.status.value) for a in got] for e2e, got in answers.items() if
            [(a.end_to_end_id, a.status.value) for a in got] != [(e2e, "ACCEPTED")]} == {}  # each told once, of its own
    assert status["problems"] == []
    size, events = len(history.to_json()), len(history.events)
    delivery = _duration(history, "deliver_to_lifecycles")
    print(f"\n{PAYMENTS} signals delivered in {delivery:.1f} s; inbox history {events} events, {size / 1024:.0f} KiB")
    assert not [e for e in history.events
                if e.HasField("signal_external_workflow_execution_initiated_event_attributes")]
    assert max(e.ByteSize() for e in history.events) < 16 * 1024  # keys and counts, not 3,000 signals
    assert events < 60 and size < 64 * 1024  # one poll's worth: collect, interpret, deliver, mark applied


async def _signals(client: Client, workflow_id: str) -> list[BankStatusReport]:
    """The bank_status signals in the stand-in's history, decoded as a lifecycle would."""
    found = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attributes = event.workflow_execution_signaled_event_attributes
            assert attributes.signal_name == "bank_status"
            [payload] = await client.data_converter.payload_codec.decode(attributes.input.payloads) \
                if client.data_converter.payload_codec else attributes.input.payloads
            found.append(BankStatusReport.model_validate(json.loads(payload.data)))
    return found


def _duration(history, activity_type: str) -> float:
    """Seconds from scheduling the (only) activity of this type to its completion, from history."""
    scheduled = next(e for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
                     and e.activity_task_scheduled_event_attributes.activity_type.name == activity_type)
    completed = next(e for e in history.events if e.HasField("activity_task_completed_event_attributes")
                     and e.activity_task_completed_event_attributes.scheduled_event_id == scheduled.event_id)
    return (completed.event_time.ToDatetime() - scheduled.event_time.ToDatetime()).total_seconds()
