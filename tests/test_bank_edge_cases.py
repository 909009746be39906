"""More of the bank's answers, against the real mock-bank: per-payment rejections in a PART
file, our own account short of funds, a statement with a gap, a late AC04 after acceptance,
messages that match nothing or can not be read, a statement seen twice, and run overlap."""

import asyncio
import uuid

import httpx
import pytest
from temporalio.client import WorkflowFailureError

from adapters.payment_registers import PaymentRegisters
from canonical.bank import BankMessage, MessageKind
from canonical.invoice import Invoice
from tests import bank_admin, sap_admin
from tests.clock import business_today
from tests.helpers import (
    assert_eventually,
    invoice_json,
    new_worker,
    path,
    run_request,
    wait_for_history,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay, resting_after_acceptance
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id

pytestmark = pytest.mark.clock_sensitive


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def start(client, worker, supplier: str, **overrides):
    invoice = Invoice.model_validate(invoice_json(supplier_id=supplier, **overrides))
    handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                         task_queue=worker.task_queue)
    await wait_for_status(handle, "SCHEDULED")
    return handle


async def test_part_file_rejects_single_payments_with_reasons_in_words(client, sap_server, bank_server, store):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        ok, closed, bad_bank = [await start(client, worker, s) for s in ("1000013", "1000014", "1000015")]
        async with bank_inbox(client, worker.task_queue):
            summary = await pay(client, worker.task_queue)
            # Accepted, then booked at once or on a later bank day: it waits in one or the other.
            paid = await wait_for_status(ok, resting_after_acceptance())
            ac04 = await wait_for_status(closed, "AWAITING_REMEDIATION")
            rc01 = await wait_for_status(bad_bank, "AWAITING_REMEDIATION")
        for handle in (ok, closed, bad_bank):
            await handle.terminate("test done")
    assert summary.paid_invoices == 3 and len(summary.message_ids) == 1
    assert paid.payment_attempts[0].outcome == resting_after_acceptance().lower()
    assert "ACCEPTED" in path(paid) and "BANK_REJECTED" not in path(paid), path(paid)
    assert ac04.payment_attempts[0].reason == "AC04 account closed"
    assert rc01.payment_attempts[0].reason == "RC01 bank identifier incorrect"
    assert {ac04.open_exception.owner.value, rc01.open_exception.owner.value} == {"ap-remediation"}


async def test_insufficient_funds_on_our_account_goes_to_treasury(client, sap_server, bank_server, store):
    await bank_admin.set_account(bank_server, "ACME", behaviour="insufficient-funds", balance=100)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await start(client, worker, "1000013")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue)
            view = await wait_for_status(handle, "AWAITING_REMEDIATION")
        await handle.terminate("test done")
    assert view.payment_attempts[0].reason_code == "AM04"
    assert view.open_exception.owner.value == "treasury-ops" and "insufficient funds" in view.open_exception.reason


async def test_statement_gap_clears_nothing_and_is_reported(client, sap_server, bank_server, store):
    await bank_admin.set_account(bank_server, "ACME", behaviour="statement-gap")
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handles = [await start(client, worker, "1000013", net_amount=f"{n}.00", tax_amount="0.00",
                               gross_amount=f"{n}.00",
                               lines=[{"line_no": 1, "description": "x", "net_amount": f"{n}.00"}]) for n in (1, 2, 3)]
        async with bank_inbox(client, worker.task_queue) as inbox:
            await pay(client, worker.task_queue)
            for handle in handles:
                await advance_until(handle, "SETTLED", bank_server)

            async def gap_reported():
                status = await inbox.query("status")
                assert any("not posted" in p["problem"] for p in status["problems"]), status
                return status

            await bank_admin.advance(bank_server, 1)
            await assert_eventually(gap_reported, timeout=20)
            described = await inbox.describe()
        views = [await wait_for_status(h, "SETTLED") for h in handles]
        for handle in handles:
            await handle.terminate("test done")
    for view in views:
        doc = view.erp_document
        erp_invoice = await sap_admin.get_invoice(sap_server, doc.invoice_document, doc.fiscal_year)
        assert erp_invoice["PaymentRunID"] != "", "nothing cleared"
    assert described.search_attributes.get("ExceptionOwner") == ["treasury-ops"]


async def test_late_ac04_after_acceptance_is_a_rejection(client, sap_server, bank_server, store):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await start(client, worker, "1000013")
        async with bank_inbox(client, worker.task_queue):
            # Executed on the bank's next business day: accepted now, booked only then, whatever
            # the clock profile (a payment for today may be booked inside the POST).
            await pay(client, worker.task_queue, run_date=await bank_admin.next_business_day(bank_server))
            await wait_for_status(handle, "ACCEPTED")
            await bank_admin.set_account(bank_server, "ACME", closed=True)  # our account closes before settlement
            view = await advance_until(handle, "AWAITING_REMEDIATION", bank_server)
        await handle.terminate("test done")
    states = path(view)
    after_sending = states[states.index("SENT_TO_BANK"):]
    assert after_sending == ["SENT_TO_BANK", "ACCEPTED", "BANK_REJECTED", "AWAITING_REMEDIATION"], states
    assert view.payment_attempts[0].reason_code == "AC04"


async def test_unknown_and_unreadable_messages_are_reported_and_the_inbox_goes_on(client, sap_server, bank_server,
                                                                                  store):
    from tests.bank_files import foreign_payment_file
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        PaymentRegisters(store.engine).record_bank_messages([BankMessage(
            bank_message_id="test:garbage", kind=MessageKind.STATUS_REPORT, body="<Document><not-closed>")])
        async with httpx.AsyncClient(base_url=bank_server) as http:  # somebody else's file: answers we never asked for
            (await http.post("/payments", content=foreign_payment_file())).raise_for_status()
        handle = await start(client, worker, "1000013")
        async with bank_inbox(client, worker.task_queue) as inbox:
            await pay(client, worker.task_queue)
            await wait_for_history(handle, "ACCEPTED")  # the inbox kept working
            status = await inbox.query("status")
        await handle.terminate("test done")
    problems = {p["bank_message_id"]: p["problem"] for p in status["problems"]}
    assert "unreadable" in problems["test:garbage"]
    assert any("unknown payment" in text for text in problems.values()), problems


async def test_a_bank_message_with_a_doctype_is_unreadable_and_treasury_is_told(client, sap_server, bank_server,
                                                                               store):
    """A camt.053 and a pain.002 that declare a DTD (one an entity bomb) are recorded, never
    parsed: each is a problem for treasury-ops, and the statement never goes to the ERP."""
    from pathlib import Path
    fixtures = Path(__file__).parent / "adapters" / "fixtures"
    bomb = '<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    tag = uuid.uuid4().hex[:8]
    messages = {f"test:dtd-camt053-{tag}": (MessageKind.STATEMENT, "camt053_balanced.xml", bomb),
                f"test:dtd-pain002-{tag}": (MessageKind.STATUS_REPORT, "pain002_part.xml", "<!DOCTYPE Document>")}
    registers = PaymentRegisters(store.engine)
    for message_id, (kind, name, doctype) in messages.items():
        body = (fixtures / name).read_text()
        cut = body.index("?>") + 2
        registers.record_bank_messages([BankMessage(bank_message_id=message_id, kind=kind,
                                                    body=body[:cut] + doctype + body[cut:])])
    statements_in_erp = len(await sap_admin.finsta_idocs(sap_server))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker, \
            bank_inbox(client, worker.task_queue) as inbox:
        async def reported():
            found = {p["bank_message_id"]: p["problem"] for p in (await inbox.query("status"))["problems"]}
            assert set(messages) <= set(found), found
            return found

        problems = await assert_eventually(reported)
        owner = (await inbox.describe()).typed_search_attributes.get(sa.EXCEPTION_OWNER)
    for message_id, (kind, _, _) in messages.items():
        assert problems[message_id].startswith(f"unreadable {kind.value}: ") and "DOCTYPE" in problems[message_id]
    assert owner == "treasury-ops"
    assert len(await sap_admin.finsta_idocs(sap_server)) == statements_in_erp  # the statement was not posted


async def test_nothing_to_pay_ends_cleanly(client, sap_server, bank_server, store):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        summary = await pay(client, worker.task_queue)
    assert summary.paid_invoices == 0 and summary.message_ids == [] and summary.refused == {}


async def test_a_second_run_on_the_same_day_is_refused_with_the_run_number_that_works(client, sap_server, bank_server,
                                                                                      store):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        await pay(client, worker.task_queue)
        with pytest.raises(WorkflowFailureError) as refused:
            await pay(client, worker.task_queue)  # as the README's run command would, run_number left at 1
        second = await pay(client, worker.task_queue, run_number=2)
    message = str(refused.value.cause.cause)  # the workflow's failure: register_payment_run's
    assert refused.value.cause.cause.type == "PaymentRunAlreadyExecuted", refused.value.cause
    assert f"run date {business_today()}" in message and '"run_number": 2 in the run request' in message, message
    assert second.run_key == f"ACME-{business_today():%Y%m%d}-2"


async def test_runs_for_one_paying_account_never_overlap(client, sap_server, bank_server, store):
    registers = PaymentRegisters(store.engine)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        other = await start(client, worker, "1000013")  # a running workflow stands in for the other run
        assert registers.acquire_account("ACME", other.id)
        request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME", run_date=business_today(),
                              horizon_days=60)
        run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                          task_queue=worker.task_queue)
        await asyncio.sleep(3)
        assert (await run.query("status"))["stage"] == "waiting until no other run pays from ACME"
        registers.release_account("ACME", other.id)
        summary = await run.result()
        await other.terminate("test done")
    assert summary.paid_invoices == 1
    assert registers.lock_holder("ACME") is None


async def test_the_same_statement_twice_is_posted_to_the_erp_once(client, sap_server, bank_server, store):
    registers = PaymentRegisters(store.engine)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await start(client, worker, "1000013")
        async with bank_inbox(client, worker.task_queue) as inbox:
            await pay(client, worker.task_queue)
            await advance_until(handle, "COMPLETED", bank_server)
            before = await sap_admin.finsta_idocs(sap_server)
            statement = next(m for m in _all_messages(registers)
                             if m.kind == MessageKind.STATEMENT and "DBIT" in m.body)
            # The bank sends the statement again under a new message id.
            again = statement.model_copy(update={"bank_message_id": statement.bank_message_id + ":again"})
            registers.record_bank_messages([again])
            await inbox.signal("poll_now")

            async def applied():
                assert registers.message(statement.bank_message_id + ":again") is not None
                assert not [m for m in registers.unapplied_messages(10) if m.bank_message_id.endswith(":again")]

            await assert_eventually(applied, timeout=15)
            status = await inbox.query("status")
        after = await sap_admin.finsta_idocs(sap_server)
    assert len(after) == len(before) >= 1
    assert not [p for p in status["problems"] if p["bank_message_id"].endswith(":again")]


def _all_messages(registers: PaymentRegisters) -> list[BankMessage]:
    from sqlmodel import Session, select

    from adapters.payment_registers import BankMessageRow
    with Session(registers.engine) as session:
        return [registers.message(row.bank_message_id) for row in session.exec(select(BankMessageRow))]
