"""The statement post when the ERP misbehaves, against the real mock-sap and mock-bank:

* the post's answer is lost and SAP shows no trace of it: the inbox waits, asks SAP again
  several times, then makes it treasury's case; the statement is never posted a second time;
* SAP is down for the statement (503 on the IDoc endpoint) while the bank sends the same
  statement twice: the inbox keeps reading the bank for everyone else meanwhile, and once SAP
  is back the statement is posted exactly once and its lifecycle completes."""

import uuid

import pytest

from adapters.payment_registers import PENDING, PaymentRegisters
from canonical.bank import MessageKind
from canonical.inbox import BankInboxConfig, StatementReport
from tests import bank_admin
from tests.helpers import assert_eventually, new_worker
from tests.payment_helpers import pay
from tests.statement_helpers import (
    all_completed,
    all_went_through,
    finsta_posts,
    sap_fault,
    scheduled_lifecycles,
    settle_all,
    statement_entries,
    statuses,
)
from workflows import search_attributes as sa
from workflows.bank_inbox import BankInbox
from workflows.statement_post import statement_post_id

pytestmark = pytest.mark.clock_sensitive
CONFIG = BankInboxConfig(poll_seconds=0.5, statement_settle_seconds=2, statement_looks=3, statement_rehint_seconds=1)
IDOC_POST = {"match": "^/sap/bc/idoc$", "method": "POST"}


@pytest.fixture(autouse=True)
async def fresh_bank_and_sap_faults(bank_server, sap_server):
    await bank_admin.reset(bank_server)
    yield
    await sap_fault(sap_server, None)


def statement_with_payments(registers: PaymentRegisters):
    from sqlmodel import Session, select

    from adapters.payment_registers import BankMessageRow
    with Session(registers.engine) as session:
        rows = session.exec(select(BankMessageRow).where(BankMessageRow.kind == MessageKind.STATEMENT.value))
        found = [r.bank_message_id for r in rows if "DBIT" in r.body]
    assert found, "no camt.053 with our payments recorded yet"
    return registers.message(found[0])


async def test_lost_answer_without_a_trace_in_the_erp_is_treasurys_case_and_never_posted_again(client, sap_server,
                                                                                               bank_server, store):
    registers = PaymentRegisters(store.engine)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        day = await scheduled_lifecycles(client, worker.task_queue, 2)
        inbox = await client.start_workflow(BankInbox.run, CONFIG, id=f"bank-inbox-{uuid.uuid4().hex[:6]}",
                                            task_queue=worker.task_queue)
        await pay(client, worker.task_queue)
        await settle_all(day, bank_server)
        posts_before = await finsta_posts(sap_server)
        # SAP fails the IDoc POST without processing it, in a way that could have been after it:
        # to finsync the post was sent and its answer lost.
        await sap_fault(sap_server, {**IDOC_POST, "status": 500, "message": "connection lost", "count": 1})
        await bank_admin.advance(bank_server, 1)

        async def treasurys_case():
            problems = {p["bank_message_id"]: p["problem"] for p in (await inbox.query("status"))["problems"]}
            assert any("without a recorded answer" in text for text in problems.values()), problems
            return problems

        problems = await assert_eventually(treasurys_case, timeout=60, interval=0.5)
        statement = statement_with_payments(registers)
        post = client.get_workflow_handle(statement_post_id(statement.bank_message_id), result_type=StatementReport)
        report = await post.result()
        described = await post.describe()
        await inbox.terminate("test done")
        histories = [await statuses(h) for h in day]
        for handle in day:
            await handle.terminate("test done")
    assert await finsta_posts(sap_server) == posts_before  # nothing reached SAP, and nothing was sent twice
    assert list(statement_entries(store).values()) == [PENDING]
    assert "after 3 looks" in problems[statement.bank_message_id] and report.posted == []
    assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) == "treasury-ops"
    assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) == "StatementPosting"
    assert any("without a recorded answer" in p for _, p in registers.message_problems())  # for reconciliation
    assert all("SETTLED" in h and "CLEARED" not in h for h in histories)


async def test_erp_outage_on_a_statement_sent_twice_does_not_stop_the_inbox(client, sap_server, bank_server, store):
    registers = PaymentRegisters(store.engine)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        day = await scheduled_lifecycles(client, worker.task_queue, 2)
        inbox = await client.start_workflow(BankInbox.run, CONFIG, id=f"bank-inbox-{uuid.uuid4().hex[:6]}",
                                            task_queue=worker.task_queue)
        await pay(client, worker.task_queue)
        await settle_all(day, bank_server)
        [other] = await scheduled_lifecycles(client, worker.task_queue, 1, supplier="1000013")
        posts_before = await finsta_posts(sap_server)
        await sap_fault(sap_server, {**IDOC_POST, "status": 503, "message": "No dialog work process available"})
        await bank_admin.advance(bank_server, 1)
        statement = await assert_eventually(lambda: _async(statement_with_payments, registers), timeout=20)
        # The bank sends the same statement again under another message id, while SAP is down.
        again = statement.model_copy(update={"bank_message_id": statement.bank_message_id + ":again"})
        registers.record_bank_messages([again])
        await inbox.signal("poll_now")
        # Meanwhile the next day's payment run: its pain.002 reaches its lifecycle.
        await pay(client, worker.task_queue, run_number=2)
        await all_went_through([other], "ACCEPTED", timeout=30)
        posts_during_outage = await finsta_posts(sap_server) - posts_before
        not_cleared = [await statuses(h) for h in day]
        await sap_fault(sap_server, None)  # SAP is back
        views = await all_completed(day, timeout=120)
        reports = [await client.get_workflow_handle(statement_post_id(m.bank_message_id),
                                                    result_type=StatementReport).result() for m in (statement, again)]
        await inbox.terminate("test done")
        await other.terminate("test done")
    assert posts_during_outage == 0 and all("CLEARED" not in h for h in not_cleared)
    assert await finsta_posts(sap_server) - posts_before == 1
    assert all("CLEARED" in [h.status.value for h in v.history] for v in views)
    assert sorted(bool(r.posted) for r in reports) == [False, True], reports  # one posts, the other finds it posted
    assert any("from bank message" in key for r in reports for key in r.already_posted), reports


async def _async(fn, *args):
    return fn(*args)
