"""The bank inbox runs for ever: it continues as new before its history grows, and the
problems it reported travel with it until treasury acknowledges them."""

import uuid

import pytest

from adapters.payment_registers import PaymentRegisters
from canonical.bank import BankMessage, MessageKind
from canonical.inbox import BankInboxConfig
from tests import bank_admin
from tests.helpers import assert_eventually, new_worker
from workflows import search_attributes as sa
from workflows.bank_inbox import BankInbox


@pytest.mark.clock_sensitive  # on the session's mock-bank
async def test_inbox_continues_as_new_and_keeps_its_problems(client, sap_server, bank_server, store):
    await bank_admin.reset(bank_server)
    PaymentRegisters(store.engine).record_bank_messages([
        BankMessage(bank_message_id="test:broken", kind=MessageKind.NOTIFICATION, body="not xml at all")])
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await client.start_workflow(
            BankInbox.run, BankInboxConfig(poll_seconds=0.2, iterations_before_continue_as_new=2),
            id=f"bank-inbox-{uuid.uuid4().hex[:6]}", task_queue=worker.task_queue)
        first_run = handle.first_execution_run_id or handle.result_run_id

        async def continued():
            described = await client.get_workflow_handle(handle.id).describe()
            assert described.run_id != first_run
            return described

        described = await assert_eventually(continued, timeout=20)
        status = await client.get_workflow_handle(handle.id).query("status")
        assert [p["bank_message_id"] for p in status["problems"]] == ["test:broken"]
        assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) == "treasury-ops"
        acknowledged = await client.get_workflow_handle(handle.id).execute_update("acknowledge_problems", "treasury.tom")

        async def cleared():
            d = await client.get_workflow_handle(handle.id).describe()
            assert d.typed_search_attributes.get(sa.EXCEPTION_OWNER) is None
            return d

        await assert_eventually(cleared, timeout=10)
        await client.get_workflow_handle(handle.id).terminate("test done")
    assert acknowledged == 1
