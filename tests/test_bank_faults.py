"""The bank's hard cases against the real mock-bank: silence, a refused file, a resend after
a lost answer (DUPL), a statement that does not add up, a return after settlement, a late
AC04, and messages that match nothing."""

import asyncio
import json
import subprocess

import pytest
from temporalio import activity

from activities.payment_run import PaymentRunActivities
from adapters.erp_connections import erp_directory
from canonical.commands import LifecyclePolicy
from canonical.invoice import Invoice
from canonical.payment_run import PaymentFileRef
from cli.processes import BIN
from tests import bank_admin
from tests.helpers import assert_eventually, decide, invoice_json, new_worker, path, wait_for_history, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment

pytestmark = pytest.mark.clock_sensitive


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def scheduled(client, worker, supplier="1000013", policy: LifecyclePolicy | None = None):
    invoice = Invoice.model_validate(invoice_json(supplier_id=supplier))
    memo = {POLICY_MEMO: policy} if policy else None
    handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                         task_queue=worker.task_queue, memo=memo)
    await wait_for_status(handle, "SCHEDULED")
    return invoice, handle


async def test_silent_bank_case_then_a_hand_rejection_is_checked_and_pays_once(client, sap_server, bank_server, store,
                                                                               temporal_address):
    """The issue's own case: the bank says nothing, treasury signals AC04 by hand (the old
    signal, as a script would), the bank in fact books the payment. One payment, no attempt 2."""
    await bank_admin.set_account(bank_server, "ACME", behaviour="silent")
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        invoice, handle = await scheduled(client, worker, policy=LifecyclePolicy(bank_status_sla_hours=2 / 3600,
                                                                                 bank_check_minutes=0.05))
        async with bank_inbox(client, worker.task_queue):
            # For the bank's next business day: a payment booked at once would send its camt.054
            # (even a silent bank does) and settle; this one hears nothing until that day.
            await pay(client, worker.task_queue, run_date=await bank_admin.next_business_day(bank_server))

            async def silent_case():
                view = await wait_for_status(handle, "SENT_TO_BANK")
                assert view.open_exception and view.open_exception.type == "BankSilent", view.open_exception
                return view

            silent = await assert_eventually(silent_case, timeout=20)
            assert silent.open_exception.owner.value == "treasury-ops"
            cli = await asyncio.to_thread(subprocess.run, [
                str(BIN / "temporal"), "workflow", "signal", "--address", temporal_address, "--workflow-id",
                invoice.workflow_id,
                "--name", "bank_rejection", "--input",
                json.dumps({"reason_code": "AC04", "reported_by": "treasury.tom"})],
                capture_output=True, text=True)
            assert cli.returncode == 0, cli.stderr

            async def unconfirmed():
                view = await handle.query(InvoiceToPayment.status)
                assert [c.type for c in view.open_side_cases] == ["RejectionNotConfirmed"], view.open_side_cases
                assert view.status.value == "SENT_TO_BANK" and len(view.payment_attempts) == 1
                return view

            reported = await assert_eventually(unconfirmed, timeout=20)
            # A signal proves nobody: the name it gives is shown as an unverified claim.
            assert "unverified bank_rejection signal (names 'treasury.tom')" in reported.open_side_cases[0].reason
            done = await advance_until(handle, "COMPLETED", bank_server)
    e2e = done.payment_attempts[0].end_to_end_id
    assert len(done.payment_attempts) == 1 and len(await bank_admin.payments_for(bank_server, e2e)) == 1
    closed = {c.type: c for c in done.closed_exceptions}
    assert closed["RejectionNotConfirmed"].resolution.startswith("not confirmed: the bank booked")
    assert closed["BankSilent"].resolved_by == "finsync"
    assert "AWAITING_REMEDIATION" not in [h.status.value for h in done.history]


async def test_refused_file_rejects_each_payment_for_treasury(client, sap_server, bank_server, store):
    await bank_admin.set_account(bank_server, "ACME", behaviour="reject-file")
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        _, handle = await scheduled(client, worker)
        summary = await pay(client, worker.task_queue)
        view = await wait_for_status(handle, "AWAITING_REMEDIATION")
        await handle.terminate("test done")
    assert summary.file_rejected and summary.paid_invoices == 0
    assert view.open_exception.owner.value == "treasury-ops"
    assert view.payment_attempts[0].reason_code == "FF01"
    assert await bank_admin.payments_for(bank_server, view.payment_attempts[0].end_to_end_id) == []


async def test_answer_lost_after_the_bank_took_the_file_resends_same_bytes_and_pays_once(client, sap_server,
                                                                                         bank_server, store):
    """The worker 'dies' right after the bank received the file: Temporal retries with the
    same file (its sha256 in history, checked against the kept bytes), the bank answers DUPL,
    and that counts as received."""
    sent: list[tuple[PaymentFileRef, bool]] = []

    async def submit_then_lose_the_answer(real: PaymentRunActivities):
        @activity.defn(name="submit_payment_file")
        async def submit(ref: PaymentFileRef):
            receipt = await real.submit_payment_file(ref)
            sent.append((ref, receipt.duplicate))
            if len(sent) == 1:
                raise RuntimeError("worker lost the bank's answer")
            return receipt
        return submit

    from adapters.bank import BankClient
    from adapters.payment_registers import PaymentRegisters
    from adapters.sap import SapClient
    from settings import get_settings
    async with BankClient(bank_server) as bank, SapClient(sap_server) as sap:
        real = PaymentRunActivities(client, store, PaymentRegisters(store.engine),
                                    erp_directory(sap, get_settings()), bank, get_settings().paying_accounts)
        fault = await submit_then_lose_the_answer(real)
        async with new_worker(client, sap_server, store, bank_url=bank_server, replace=[fault]) as worker:
            _, handle = await scheduled(client, worker)
            async with bank_inbox(client, worker.task_queue):
                summary = await pay(client, worker.task_queue)
                view = await wait_for_history(handle, "ACCEPTED")
            await handle.terminate("test done")
    assert len(sent) == 2 and sent[0][0] == sent[1][0] and [duplicate for _, duplicate in sent] == [False, True]
    assert summary.paid_invoices == 1
    assert len(await bank_admin.payments_for(bank_server, view.payment_attempts[0].end_to_end_id)) == 1


async def test_return_after_settlement_reopens_and_pays_again_once(client, sap_server, bank_server, store, issuer):
    await bank_admin.set_account(bank_server, "ACME", behaviour="return-later",
                                 parameters={"days": 1, "reason": "MD07"})
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        _, handle = await scheduled(client, worker)
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue)
            view = await advance_until(handle, "AWAITING_REMEDIATION", bank_server)
            assert view.payment_attempts[0].outcome == "returned" and view.payment_attempts[0].reason_code == "MD07"
            assert path(view)[-5:] == ["ACCEPTED", "SETTLED", "RETURNED", "REOPENED",
                                       "AWAITING_REMEDIATION"], path(view)
            await bank_admin.set_account(bank_server, "ACME", behaviour="accept")
            await decide(handle, issuer, "resolve", "ap.alice", resolution="supplier confirmed account")
            await wait_for_status(handle, "SCHEDULED")
            await pay(client, worker.task_queue, run_number=2)
            view = await advance_until(handle, "COMPLETED", bank_server, max_days=6)
    first, second = view.payment_attempts
    assert (first.outcome, second.outcome) == ("returned", "settled")
    [returned] = await bank_admin.payments_for(bank_server, first.end_to_end_id)
    [paid] = await bank_admin.payments_for(bank_server, second.end_to_end_id)
    assert returned["returned_at"] and not paid.get("returned_at"), (returned, paid)
