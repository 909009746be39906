"""Paths through the bank (real mock-bank; the inbox reads its answers): invoices paid to
COMPLETED by a released PaymentRun, the BankInbox and a StatementPost, a rejection remediated
into a second attempt, a return after settlement, hand-reported rejections (one the bank booked,
one it confirmed), and a settlement of a superseded attempt (PaidTwice). Each function returns
{path name: history}."""

from pathlib import Path

from temporalio.client import Client, WorkflowHistory

from canonical.commands import LifecyclePolicy
from canonical.inbox import BankInboxConfig, StatementReport
from canonical.payment import BankStatus, BankStatusReport
from tests import bank_admin, sap_admin
from tests.clock import business_today
from tests.evidence_helpers import bank_date, side_case
from tests.helpers import (
    assert_eventually,
    decision_input,
    run_request,
    session_issuer,
    wait_for_history,
    wait_for_status,
)
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.recordings.stack import Session, advance_until_all, answered, session, start_einvoice
from tests.test_approvals import BIG
from workflows.bank_inbox import BankInbox
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id

Histories = dict[str, WorkflowHistory]


async def record_paid_cycle(client: Client, tmp: Path) -> Histories:
    """Three lifecycles paid by one run above its release limit, released by treasury.rita: two
    approvers above the threshold; an e-invoice held for validation, resolved, answered AB/UQ/AP/PD;
    INITECH (1000014), whose account the bank rejects AC04, paid again to a new account by a
    second run. The inbox reads the answers and hands each statement to a StatementPost, and sends
    a lifecycle's answers of one batch as one `bank_statuses` signal (the returns recording below
    keeps one `bank_status` signal per answer)."""
    async with session(client, tmp, "paid", einvoice=True, settings_fields={"lifecycle_bank_status_lists": True}) as s:
        await sap_admin.add_bank_account(s.sap_url, "1000014", "0002", "DE89370400440532013000", "COBADEFFXXX")
        approval = await s.start("REPLAY-APPROVAL", shown=True, approved_by=None, submitted_by="ap.sam", **BIG)
        answers = await start_einvoice(s, "EI-REPLAY-ANS", bank_account_id="0009")  # the ERP has no 0009
        rejected = await s.start("REPLAY-AC04", supplier_id="1000014")
        await wait_for_status(approval, "AWAITING_APPROVAL")
        for approver in ("ap.bob", "ap.carol"):  # above 10,000: two distinct approvers
            await s.decide(approval, "approve", approver)
        await wait_for_status(answers, "AWAITING_APPROVAL")
        await s.decide(answers, "approve", "ap.bob")
        await wait_for_status(answers, "ON_HOLD")  # account 0009: the ERP has none
        await s.decide(answers, "resolve", "md.mia", resolution="invoice names account 0001", bank_account_id="0001")
        await wait_for_status(answers, "AWAITING_APPROVAL")  # another payee: approved again
        await s.decide(answers, "approve", "ap.carol")
        for handle in (approval, answers, rejected):
            await wait_for_status(handle, "SCHEDULED")

        config = BankInboxConfig(poll_seconds=0.5, statement_rehint_seconds=1)
        inbox = await client.start_workflow(BankInbox.run, config, id=f"bank-inbox-{s.task_queue}",
                                            task_queue=s.task_queue)
        request = run_request(payment_run_workflow_id("ACME"), paying_account_id="ACME", run_date=business_today(),
                              horizon_days=60, max_payments_per_file=2, release_above="1000.00")
        run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"),
                                          task_queue=s.task_queue)

        async def awaiting_release():
            assert (await run.query(PaymentRun.status))["stage"].startswith("awaiting release")

        await assert_eventually(awaiting_release)
        await run.execute_update("release", decision_input(session_issuer(), run.id, "release", "treasury.rita"))
        await run.result()
        await wait_for_status(rejected, "AWAITING_REMEDIATION")
        await s.decide(rejected, "resolve", "md.mia", resolution="supplier confirmed new account",
                       bank_account_id="0002")
        await wait_for_status(rejected, "AWAITING_APPROVAL")  # another payee: approved again
        await s.decide(rejected, "approve", "ap.bob")
        await wait_for_status(rejected, "SCHEDULED")
        await pay(client, s.task_queue, run_number=2)
        await advance_until_all([approval, answers, rejected], "COMPLETED", s.bank_url)
        await answered(s.einvoice_url, "EI-REPLAY-ANS", ["AB", "UQ", "AP", "PD"])
        post = await statement_post_that_cleared(s)
        await inbox.terminate("recorded")
        first_run = client.get_workflow_handle(run.id, run_id=run.result_run_id)  # not run 2, which reused the id
        return {"lifecycle-approval-paid": await approval.fetch_history(),
                "lifecycle-supplier-answers": await answers.fetch_history(),
                "lifecycle-rejected-remediated": await rejected.fetch_history(),
                "payment-run-released": await first_run.fetch_history(),
                "bank-inbox": await inbox.fetch_history(),
                "statement-post": post}


async def statement_post_that_cleared(s: Session) -> WorkflowHistory:
    """The first StatementPost (of this recording's task queue) that posted a statement to the ERP:
    not an empty day's."""
    query = f"WorkflowType='StatementPost' AND TaskQueue='{s.task_queue}'"
    posts = sorted([w async for w in s.client.list_workflows(query)], key=lambda w: w.start_time)
    for post in posts:
        report = await s.client.get_workflow_handle(post.id, result_type=StatementReport).result()
        if report.posted:
            return await s.client.get_workflow_handle(post.id).fetch_history()
    raise AssertionError(f"no statement posted among {[p.id for p in posts]}")


async def record_return(client: Client, tmp: Path) -> Histories:
    """Settled, then returned by the bank a day later (MD07, mock-bank `return-later`): reopened,
    remediated by AP, paid again once (tests/test_bank_faults.py)."""
    async with session(client, tmp, "return") as s:
        await bank_admin.set_account(s.bank_url, "ACME", behaviour="return-later",
                                     parameters={"days": 1, "reason": "MD07"})
        handle = await s.start("REPLAY-RETURN", shown=True)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, s.task_queue):
            await pay(client, s.task_queue)
            await advance_until(handle, "AWAITING_REMEDIATION", s.bank_url)
            await bank_admin.set_account(s.bank_url, "ACME", behaviour="accept")
            await s.decide(handle, "resolve", "ap.alice", resolution="supplier confirmed account")
            await wait_for_status(handle, "SCHEDULED")
            await pay(client, s.task_queue, run_number=2)
            view = await advance_until(handle, "COMPLETED", s.bank_url, max_days=6)
        assert [a.outcome for a in view.payment_attempts] == ["returned", "settled"], view.payment_attempts
        return {"lifecycle-returned": await handle.fetch_history()}


async def record_hand_reports(client: Client, tmp: Path) -> Histories:
    """treasury.tom reports an AC04 on two sent payments (tests/test_hand_reports.py). One the bank
    then books: a side case, a look at the bank's messages, nothing paid again. INITECH's
    (1000014), whose account is closed at the bank: the bank confirms it, remediation opens and
    AP gives a new account. Both in one run, so one file and one inbox serve them."""
    async with session(client, tmp, "hand-report") as s:
        await sap_admin.add_bank_account(s.sap_url, "1000014", "0002", "DE89370400440532013000", "COBADEFFXXX")
        fast = LifecyclePolicy(bank_check_minutes=0.05)  # the bank is asked again every 3 s, not 4 h
        booked = await s.start("REPLAY-HANDREP", policy=fast)
        confirmed = await s.start("REPLAY-HANDREP-C", supplier_id="1000014", policy=fast)
        for handle in (booked, confirmed):
            await wait_for_status(handle, "SCHEDULED")
        await pay(client, s.task_queue, run_date=await bank_date(s.bank_url))  # no inbox yet: nothing read back
        for handle in (booked, confirmed):
            sent = await wait_for_history(handle, "SENT_TO_BANK")
            await handle.execute_update("report_bank_rejection", decision_input(
                session_issuer(), handle.id, "report_bank_rejection", "treasury.tom", reason_code="AC04",
                end_to_end_id=sent.payment_attempts[-1].end_to_end_id))
        async with bank_inbox(client, s.task_queue):
            remediation = await wait_for_status(confirmed, "AWAITING_REMEDIATION", timeout=30)
            done = await advance_until(booked, "COMPLETED", s.bank_url)
        assert [c.type for c in done.closed_exceptions if c.type == "RejectionNotConfirmed"], done.closed_exceptions
        assert remediation.open_exception.type == "PaymentRejected", remediation.open_exception
        await s.decide(confirmed, "resolve", "md.mia", resolution="supplier confirmed new account",
                       bank_account_id="0002")
        await wait_for_status(confirmed, "AWAITING_APPROVAL")  # another payee: approved again
        await s.decide(confirmed, "approve", "ap.bob")
        await wait_for_status(confirmed, "SCHEDULED")
        histories = {"lifecycle-hand-report-unconfirmed": await booked.fetch_history(),
                     "lifecycle-hand-report-confirmed": await confirmed.fetch_history()}
        await confirmed.terminate("recorded")
        return histories


async def record_paid_twice(client: Client, tmp: Path) -> Histories:
    """AM04 (insufficient funds) confirmed by the bank, remediated by treasury; then the bank
    books the first attempt after all: a critical PaidTwice case, resolved by a recall."""
    async with session(client, tmp, "paid-twice") as s:
        await bank_admin.set_account(s.bank_url, "ACME", behaviour="insufficient-funds", balance=100)
        handle = await s.start("REPLAY-TWICE")
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, s.task_queue):
            await pay(client, s.task_queue, run_date=await bank_date(s.bank_url))
            rejected = await wait_for_status(handle, "AWAITING_REMEDIATION", timeout=30)
        first = rejected.payment_attempts[0]
        await s.decide(handle, "resolve", "treasury.tom", resolution="funds moved in")
        await wait_for_status(handle, "SCHEDULED")
        await handle.signal("bank_status", BankStatusReport(  # as the inbox delivers a late camt.054
            message_id="MB-C054-LATE", end_to_end_id=first.end_to_end_id, status=BankStatus.SETTLED,
            amount=rejected.gross_amount))

        async def alert():
            case = side_case(await handle.query(InvoiceToPayment.status), "PaidTwice")
            assert case is not None
            return case

        case = await assert_eventually(alert)
        await s.decide(handle, "resolve", "treasury.tom", resolution="recall requested from the bank",
                       case_id=case.case_id)
        history = await handle.fetch_history()
        await handle.terminate("recorded")
        return {"lifecycle-paid-twice": history}
