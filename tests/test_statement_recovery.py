"""A statement post survives a crash at any point (issue 8), against the real dev server,
mock-sap and mock-bank, with a day's payments on one statement:

* the worker SIGKILLed while SAP is posting the statement: the retry (within the heartbeat
  timeout, not the 12-minute one) asks SAP's own APIs, finds the post applied, and tells
  every lifecycle; meanwhile the inbox goes on reading the bank for another payment;
* an attempt that dies before it posts, and one that dies just after SAP answered and the
  register recorded it (the chaos run's 960 lifecycles left SETTLED without an owner): every
  lifecycle COMPLETED, the statement posted to SAP exactly once in each case."""

import asyncio
import time
import uuid

import pytest
from temporalio import activity

from activities.bank_inbox import BankInboxActivities
from adapters.bank import BankClient
from adapters.erp_connections import erp_directory
from adapters.lifecycle_outbox import LifecycleOutbox
from adapters.payment_registers import PENDING, PaymentRegisters
from adapters.sap import SapClient
from canonical.inbox import BankInboxConfig, StatementOutcome
from settings import get_settings
from tests import bank_admin
from tests.helpers import new_worker
from tests.payment_helpers import pay
from tests.statement_helpers import (
    all_completed,
    all_went_through,
    finsta_posts,
    sap_fault,
    scheduled_lifecycles,
    settle_all,
    statement_entries,
    wait_for_pending_post,
    worker_process,
    worker_ready,
)
from tests.tcp_tap import tapped
from workflows.bank_inbox import BankInbox

pytestmark = pytest.mark.clock_sensitive
DAY_OF_PAYMENTS = 40  # lifecycles paid in one run, so 40 debit lines on one camt.053
# Short settle windows and a quick second hint: the lifecycles' own look is 6 hours away, so
# every COMPLETED below came from the statement post telling them.
CONFIG = BankInboxConfig(poll_seconds=0.5, statement_settle_seconds=2, statement_looks=3, statement_rehint_seconds=1)


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def start_inbox(client, task_queue: str):
    return await client.start_workflow(BankInbox.run, CONFIG, id=f"bank-inbox-{uuid.uuid4().hex[:6]}",
                                       task_queue=task_queue)


async def test_worker_killed_while_the_erp_posts_the_statement(client, sap_server, bank_server, store, temporal_address,
                                                               tmp_path):
    task_queue, store_url = f"tq-{uuid.uuid4()}", str(store.engine.url)
    async with tapped(sap_server, b"POST /sap/bc/idoc ") as (tap, sap_via_tap):
        with worker_process(temporal_address, task_queue, sap_via_tap, bank_server, store_url,
                            tmp_path / "w1.log") as first:
            await worker_ready(client, task_queue, first.pid)
            day = await scheduled_lifecycles(client, task_queue, DAY_OF_PAYMENTS)
            inbox = await start_inbox(client, task_queue)
            await pay(client, task_queue)
            await settle_all(day, bank_server)
            [other] = await scheduled_lifecycles(client, task_queue, 1, supplier="1000013")  # for tomorrow's run
            posts_before = await finsta_posts(sap_server)
            # SAP waits 3 s before it processes the statement: the worker dies with the post at SAP.
            await sap_fault(sap_server, {"match": "^/sap/bc/idoc$", "method": "POST", "scenario": "slow", "count": 1})
            await bank_admin.advance(bank_server, 1)  # closes the day: its camt.053 goes to the ERP
            await asyncio.wait_for(tap.forwarded.wait(), timeout=60)  # the FINSTA01 has left the worker in full
            first.proc.kill()  # SIGKILL, this PID only: no graceful shutdown, no answer recorded
            first.proc.wait(10)
            killed = time.monotonic()
            key = await wait_for_pending_post(store, timeout=1)
    async with new_worker(client, sap_server, store, bank_url=bank_server, task_queue=task_queue):
        # Other bank messages are read while the statement's fate is still unknown.
        await pay(client, task_queue, run_number=2)
        await all_went_through([other], "ACCEPTED", timeout=30)
        still_unknown = statement_entries(store)[key]
        views = await all_completed(day, timeout=120)
        recovered_after = time.monotonic() - killed
        await inbox.terminate("test done")
        await other.terminate("test done")
    assert still_unknown == PENDING
    assert all("CLEARED" in [h.status.value for h in v.history] for v in views)
    assert statement_entries(store)[key].startswith("recovered: payment document")  # from SAP's APIs, no /_mock
    assert await finsta_posts(sap_server) - posts_before == 1
    assert recovered_after < 90, f"{recovered_after:.0f} s: the retry waited for more than the heartbeat timeout"


async def test_attempts_dying_before_and_just_after_the_post_leave_no_lifecycle_behind(client, sap_server, bank_server,
                                                                                     store):
    """First attempt: dies before doing anything. Second: posts, the register records SAP's
    IDoc, then dies before returning. Third: finds the statement posted and tells everyone."""
    attempts: list[str] = []
    registers = PaymentRegisters(store.engine)
    async with BankClient(bank_server) as bank, SapClient(sap_server) as sap:
        settings = get_settings()
        ours = {a.iban: a.account_id for a in settings.paying_accounts.values() if a.iban}  # routes ACME to SAP
        real = BankInboxActivities(bank, registers, erp_directory(sap, settings), LifecycleOutbox(store.engine), None,
                                   ours)

        @activity.defn(name="post_statement_to_erp")
        async def dies_around_the_post(bank_message_id: str) -> StatementOutcome:
            if "DBIT" not in registers.message(bank_message_id).body:  # a day without payments
                return await real.post_statement_to_erp(bank_message_id)
            if not attempts:
                attempts.append("died before")
                raise RuntimeError("worker lost before the post")
            outcome = await real.post_statement_to_erp(bank_message_id)
            attempts.append("posted" if outcome.posted else "already posted" if outcome.already_posted else "other")
            if outcome.posted:
                raise RuntimeError("worker lost after SAP answered and the register recorded it")
            return outcome

        async with new_worker(client, sap_server, store, bank_url=bank_server,
                              replace=[dies_around_the_post]) as worker:
            day = await scheduled_lifecycles(client, worker.task_queue, DAY_OF_PAYMENTS)
            inbox = await start_inbox(client, worker.task_queue)
            await pay(client, worker.task_queue)
            await settle_all(day, bank_server)
            posts_before = await finsta_posts(sap_server)
            await bank_admin.advance(bank_server, 1)
            views = await all_completed(day, timeout=120)
            await inbox.terminate("test done")
    entries = statement_entries(store)
    assert attempts[:3] == ["died before", "posted", "already posted"], attempts
    assert all("CLEARED" in [h.status.value for h in v.history] for v in views)
    assert await finsta_posts(sap_server) - posts_before == 1
    assert [ref for ref in entries.values() if ref.isdigit()], entries  # the IDoc number SAP gave the one post
