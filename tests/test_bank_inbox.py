"""The bank inbox runs for ever: it continues as new before its history grows, and the
problems it reported travel with it until treasury acknowledges them. Its batches are sized by
the payments their messages name."""

import uuid

import pytest
from temporalio.client import WorkflowUpdateFailedError

from adapters.payment_registers import PaymentRegisters
from canonical.bank import BankMessage, MessageKind
from canonical.inbox import BankInboxConfig
from tests import bank_admin
from tests.helpers import assert_eventually, decision_input, new_worker
from workflows import search_attributes as sa
from workflows.bank_inbox import BankInbox


@pytest.mark.clock_sensitive  # on the session's mock-bank
async def test_inbox_continues_as_new_and_keeps_its_problems(client, sap_server, bank_server, store, issuer):
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
        inbox = client.get_workflow_handle(handle.id)
        with pytest.raises(WorkflowUpdateFailedError) as typed:  # a typed name is no identity
            await inbox.execute_update("acknowledge_problems", "treasury.tom")
        with pytest.raises(WorkflowUpdateFailedError) as wrong_role:  # acknowledging is treasury-ops' decision
            await inbox.execute_update("acknowledge_problems", decision_input(
                issuer, handle.id, "acknowledge_inbox_problems", "ap.alice"))
        acknowledged = await inbox.execute_update("acknowledge_problems", decision_input(
            issuer, handle.id, "acknowledge_inbox_problems", "treasury.tom", note="checked with the bank"))
        after = await inbox.query("status")

        async def cleared():
            d = await client.get_workflow_handle(handle.id).describe()
            assert d.typed_search_attributes.get(sa.EXCEPTION_OWNER) is None
            return d

        await assert_eventually(cleared, timeout=10)
        await client.get_workflow_handle(handle.id).terminate("test done")
    assert acknowledged == 1
    assert "signed decision token" in typed.value.cause.message
    assert "needs one of the roles treasury-ops" in wrong_role.value.cause.message
    assert [p["acknowledged_by"] for p in after["problems"]] == ["treasury.tom"]
    [decision] = after["decisions"]
    assert (decision["who"], decision["decision"]) == ("treasury.tom", "acknowledge_inbox_problems")
    assert decision["verified_by"].startswith("jwt:finsync-dev-issuer#")


def pain002(message_id: str, original_message_id: str, end_to_end_ids: list[str]) -> str:
    """A pain.002 as mock-bank writes it: every payment accepted."""
    txs = "".join(f"<TxInfAndSts><OrgnlEndToEndId>{e}</OrgnlEndToEndId><TxSts>ACCP</TxSts></TxInfAndSts>"
                  for e in end_to_end_ids)
    return ("<?xml version='1.0' encoding='utf-8'?><Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.002.001.10\">"
            f"<CstmrPmtStsRpt><GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-10-01T09:00:00+00:00</CreDtTm></GrpHdr>"
            f"<OrgnlGrpInfAndSts><OrgnlMsgId>{original_message_id}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>"
            f"<GrpSts>ACCP</GrpSts></OrgnlGrpInfAndSts><OrgnlPmtInfAndSts><OrgnlPmtInfId>{original_message_id}-P"
            f"</OrgnlPmtInfId><PmtInfSts>ACCP</PmtInfSts>{txs}</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>")


async def test_batches_are_sized_by_the_payments_their_messages_name(store):
    """Three pain.002 of three payments each, four payments a batch: the first batch takes two
    messages (six signals, queued in the store under each message's id), the next the third.
    Interpreting a message again (the inbox restarted before applying it) queues nothing twice."""
    from decimal import Decimal

    from temporalio.testing import ActivityEnvironment

    from activities.bank_inbox import BankInboxActivities
    from adapters.lifecycle_outbox import LifecycleOutbox
    from canonical.inbox import InboxBatch
    from canonical.payment import PaymentRecord

    registers, outbox = PaymentRegisters(store.engine), LifecycleOutbox(store.engine)
    files = {f"FS-T-{f}": [f"T-{f}-{n}/1" for n in range(3)] for f in range(3)}
    registers.register_payments([PaymentRecord(
        end_to_end_id=e2e, invoice_key=e2e[:-2], workflow_id=f"invoice-{e2e[:-2]}", run_key="T", message_id=msg,
        payment_info_id=f"{msg}-P", attempt=1, amount=Decimal("1.00"), currency="EUR", remittance_reference=e2e[:-2])
        for msg, ids in files.items() for e2e in ids])
    registers.record_bank_messages([BankMessage(bank_message_id=f"test:{i}", kind=MessageKind.STATUS_REPORT,
                                                body=pain002(f"MB-{i}", msg, ids))
                                    for i, (msg, ids) in enumerate(files.items())])
    inbox = BankInboxActivities(None, registers, None, outbox)
    batch = InboxBatch(max_messages=100, max_payments=4)
    first = await ActivityEnvironment().run(inbox.interpret_bank_messages, batch)
    again = await ActivityEnvironment().run(inbox.interpret_bank_messages, batch)
    for message_id in first.message_ids:
        registers.mark_applied(message_id)
    second = await ActivityEnvironment().run(inbox.interpret_bank_messages, batch)

    assert (first.message_ids, first.signals_queued, first.payments, first.more) == (["test:0", "test:1"], 6, 6, True)
    assert again.model_dump() == first.model_dump()
    assert (second.message_ids, second.signals_queued, second.more) == (["test:2"], 3, False)
    queued = outbox.unsent(["test:0", "test:1", "test:2"])
    assert [(q.batch_key, q.workflow_id, q.argument["status"]) for q in queued][:2] == [
        ("test:0", "invoice-T-0-0", "ACCEPTED"), ("test:0", "invoice-T-0-1", "ACCEPTED")]
    assert len(queued) == 9
