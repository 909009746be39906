"""A rejection reported by a person is not the bank's answer (architecture invariant 11).
Against the real mock-bank: a report on a sent or accepted payment opens a case and pays
nothing again; the bank's own messages decide (rejected, booked, or not booked by a balanced
statement past value date + margin); a settlement of a superseded attempt is critical."""

from datetime import timedelta

import pytest

from canonical.commands import LifecyclePolicy
from canonical.invoice import Invoice
from canonical.payment import BankStatus, BankStatusReport
from tests import bank_admin
from tests.evidence_helpers import bank_date, refusal, side_case
from tests.helpers import (
    assert_eventually,
    decide,
    decision_input,
    invoice_json,
    new_worker,
    session_issuer,
    wait_for_history,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment

pytestmark = pytest.mark.clock_sensitive
FAST_CHECKS = LifecyclePolicy(bank_check_minutes=0.05)


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def scheduled(client, worker, supplier: str):
    invoice = Invoice.model_validate(invoice_json(supplier_id=supplier))
    handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                         task_queue=worker.task_queue, memo={POLICY_MEMO: FAST_CHECKS})
    await wait_for_status(handle, "SCHEDULED")
    return handle


def report(handle, view, code: str = "AC04") -> dict:
    """treasury.tom's signed report (role treasury-ops) on the lifecycle's newest attempt."""
    return decision_input(session_issuer(), handle.id, "report_bank_rejection", "treasury.tom", reason_code=code,
                          end_to_end_id=view.payment_attempts[-1].end_to_end_id)


async def test_report_on_a_sent_payment_opens_a_case_and_the_booking_pays_once(client, sap_server, bank_server, store):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await scheduled(client, worker, "1000013")
        await pay(client, worker.task_queue, run_date=await bank_date(bank_server))  # no inbox yet: nothing read back
        sent = await wait_for_history(handle, "SENT_TO_BANK")
        answer = await handle.execute_update(InvoiceToPayment.report_bank_rejection, report(handle, sent))
        assert "nothing is paid again" in answer
        held = await handle.query(InvoiceToPayment.status)
        assert side_case(held, "RejectionNotConfirmed").owner.value == "treasury-ops"
        assert held.status.value == "SENT_TO_BANK" and len(held.payment_attempts) == 1
        async with bank_inbox(client, worker.task_queue):
            done = await advance_until(handle, "COMPLETED", bank_server)
    e2e = done.payment_attempts[0].end_to_end_id
    assert [a.end_to_end_id for a in done.payment_attempts] == [e2e]
    assert len(await bank_admin.payments_for(bank_server, e2e)) == 1
    closed = [c for c in done.closed_exceptions if c.type == "RejectionNotConfirmed"]
    assert closed and closed[0].resolution.startswith("not confirmed: the bank booked")
    assert "AWAITING_REMEDIATION" not in [h.status.value for h in done.history]


async def test_report_on_an_accepted_payment_waits_for_the_bank(client, sap_server, bank_server, store):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await scheduled(client, worker, "1000016")
        execution = await bank_date(bank_server) + timedelta(days=3)  # accepted now, booked on that day
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue, run_date=execution)
            accepted = await wait_for_history(handle, "ACCEPTED")
            await handle.execute_update(InvoiceToPayment.report_bank_rejection, report(handle, accepted, "AC06"))

            async def still_waiting():
                view = await handle.query(InvoiceToPayment.status)
                assert view.payment_attempts[0].bank_evidence, view.payment_attempts[0]  # the bank was asked
                assert view.status.value == "ACCEPTED" and side_case(view, "RejectionNotConfirmed")
                return view

            await assert_eventually(still_waiting, timeout=20)
            assert "already reported" in await refusal(handle, InvoiceToPayment.report_bank_rejection,
                                                       report(handle, accepted))
            done = await advance_until(handle, "COMPLETED", bank_server, max_days=8)
    assert len(done.payment_attempts) == 1
    assert len(await bank_admin.payments_for(bank_server, done.payment_attempts[0].end_to_end_id)) == 1
    assert not done.open_side_cases


async def test_report_confirmed_by_the_bank_leads_to_remediation_and_no_repeat_to_the_same_account(
        client, sap_server, bank_server, store, issuer):
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await scheduled(client, worker, "1000014")  # INITECH: its account is closed at the bank
        await pay(client, worker.task_queue, run_date=await bank_date(bank_server))
        sent = await wait_for_history(handle, "SENT_TO_BANK")
        await handle.execute_update(InvoiceToPayment.report_bank_rejection, report(handle, sent))
        async with bank_inbox(client, worker.task_queue):
            view = await wait_for_status(handle, "AWAITING_REMEDIATION", timeout=30)
        assert view.open_exception.type == "PaymentRejected" and view.open_exception.owner.value == "ap-remediation"
        closed = [c for c in view.closed_exceptions if c.type == "RejectionNotConfirmed"]
        assert closed and closed[0].resolution.startswith("confirmed by the bank")
        assert "paying the same account again is refused" in await refusal(
            handle, "resolve", decision_input(issuer, handle.id, "resolve", "ap.alice",
                                              resolution="supplier says the account is fine"))
        # Master data claims a correction, but the ERP still holds the closed account: held again.
        await decide(handle, issuer, "resolve", "md.mia", resolution="corrected in SAP", bank_details_corrected=True)

        async def held_for_the_same_account():
            current = await handle.query(InvoiceToPayment.status)
            assert current.open_exception, current
            assert current.open_exception.type == "SameAccountRejected", current.open_exception
            return current

        held = await assert_eventually(held_for_the_same_account)
        await handle.terminate("test done")
    assert held.status.value == "AWAITING_REMEDIATION" and len(held.payment_attempts) == 1


async def test_silent_bank_payment_not_booked_by_a_balanced_statement_frees_a_new_attempt(
        client, sap_server, bank_server, store):
    await bank_admin.set_account(bank_server, "ACME", behaviour="silent")  # no pain.002, statements still come
    async with new_worker(client, sap_server, store, bank_url=bank_server, not_booked_margin_days=1) as worker:
        handle = await scheduled(client, worker, "1000014")  # the bank rejects it AC04 but says nothing
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue, run_date=await bank_date(bank_server))
            sent = await wait_for_history(handle, "SENT_TO_BANK")
            await handle.execute_update(InvoiceToPayment.report_bank_rejection, report(handle, sent))
            view = await advance_until(handle, "AWAITING_REMEDIATION", bank_server, max_days=6)
        await handle.terminate("test done")
    attempt = view.payment_attempts[0]
    assert "not booked by the bank" in attempt.reason and attempt.reason_code == "AC04"
    records = await bank_admin.payments_for(bank_server, attempt.end_to_end_id)
    assert records and not [p for p in records if p.get("booked_at")], records  # the bank has it, unbooked
    assert view.open_exception.type == "PaymentRejected"


async def test_settlement_of_a_superseded_attempt_is_a_critical_paid_twice_case(client, sap_server, bank_server, store,
                                                                               issuer):
    await bank_admin.set_account(bank_server, "ACME", behaviour="insufficient-funds", balance=100)
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await scheduled(client, worker, "1000013")
        async with bank_inbox(client, worker.task_queue):
            await pay(client, worker.task_queue, run_date=await bank_date(bank_server))
            rejected = await wait_for_status(handle, "AWAITING_REMEDIATION", timeout=30)  # AM04, confirmed by pain.002
        first = rejected.payment_attempts[0]
        await decide(handle, issuer, "resolve", "treasury.tom", resolution="funds moved in")
        await wait_for_status(handle, "SCHEDULED")
        # The bank books attempt 1 after all (as the inbox would deliver a camt.054).
        await handle.signal("bank_status", BankStatusReport(message_id="MB-C054-LATE",
                                                            end_to_end_id=first.end_to_end_id,
                                                            status=BankStatus.SETTLED, amount=rejected.gross_amount))
        alert = await assert_eventually(lambda: _side(handle, "PaidTwice"))
        assert alert.severity.value == "critical" and first.end_to_end_id in alert.reason
        summary = await pay(client, worker.task_queue, run_number=2, run_date=await bank_date(bank_server))
        assert rejected.invoice_key in summary.refused and "paid twice" in summary.refused[rejected.invoice_key]
        await decide(handle, issuer, "resolve", "treasury.tom", resolution="recall requested from the bank",
                     case_id=alert.case_id)
        after = await handle.query(InvoiceToPayment.status)
        await handle.terminate("test done")
    assert not after.open_side_cases and any(c.type == "PaidTwice" for c in after.closed_exceptions)


async def _side(handle, case_type: str):
    view = await handle.query(InvoiceToPayment.status)
    case = side_case(view, case_type)
    assert case is not None, view.open_side_cases
    return case
