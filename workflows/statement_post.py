"""StatementPost: one bank statement message posted to the ERP, started by the bank inbox as a
child workflow and abandoned to itself, so neither a slow post (minutes at SAP) nor an ERP
outage on it holds up the inbox: pain.002 and camt.054 keep reaching lifecycles meanwhile.

It posts once (the register's claim, activities/statement_posting.py), and when the answer is
lost it does what invoice posting does (`InvoiceToPayment._post`): waits a settle window and
asks the ERP again; only after several looks without a trace is the statement treasury's
case, and it is never posted twice. Then every lifecycle whose item the ERP cleared or
reopened is told to look now (`statement_posted`, carrying the ERP's clearing of a paid item,
which spares the lifecycle its read), from an activity, twice: a hint that lands while a lifecycle
is reading its open item is spent by that read, so a second one follows.
Problems go on the bank message, to the inbox (its treasury list) and onto this workflow's
ExceptionOwner/ExceptionType."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.bank_inbox import BankInboxActivities as A
    from activities.lifecycle_delivery import LifecycleDeliveries as D
    from activities.statement_posting import AGAIN
    from canonical.inbox import DeliveryRequest, MarkApplied, StatementOutcome, StatementPostRequest, StatementReport

import workflows.activity_options as opts
from workflows import search_attributes as sa
from workflows.counterpart_calls import call
from workflows.outage_board import OutageBoard

CASE_TYPE = "StatementPosting"
REPORT_SIGNAL = "statement_reported"  # BankInbox's handler


def statement_post_id(bank_message_id: str) -> str:
    return f"statement-post-{bank_message_id}"


@workflow.defn(name="StatementPost")
class StatementPost:
    def __init__(self) -> None:
        self._report: StatementReport | None = None
        self._outages = OutageBoard(workflow.info().workflow_id, lambda: "StatementPost", on_change=self._show)

    async def _call(self, activity, *args, summary: str, via):
        """Every activity call: outages retry under a self-closing case (counterpart_calls)."""
        return await call(activity, *args, summary=summary, via=via, outages=self._outages)

    @workflow.run
    async def run(self, req: StatementPostRequest) -> StatementReport:
        self._report = report = StatementReport(bank_message_id=req.bank_message_id)
        workflow.set_current_details(f"posting bank message {req.bank_message_id} to the ERP")
        outcome = await self._post(req)
        if outcome is not None and outcome.hint_batches:
            told = await self._call(D.deliver_to_lifecycles, DeliveryRequest(batch_keys=outcome.hint_batches),
                                    summary=f"tell {outcome.lifecycles_to_tell} lifecycles to look at the ERP now",
                                    via=opts.LIFECYCLE_CALLS)
            report.lifecycles_told = told.delivered
            report.problems += list(told.problems.values())
            await workflow.sleep(timedelta(seconds=req.rehint_seconds), summary="before the second hint")
            again = DeliveryRequest(batch_keys=[k + AGAIN for k in outcome.hint_batches])
            await self._call(D.deliver_to_lifecycles, again,
                             summary="tell them again: a hint that landed during a read was spent by it",
                             via=opts.LIFECYCLE_CALLS)
        if report.problems:
            problem = "; ".join(report.problems)
            await self._call(A.record_statement_problems, MarkApplied(message_ids=[req.bank_message_id],
                                                                      problems={req.bank_message_id: problem}),
                             summary="note the statement's problems on the bank message", via=opts.TREASURY)
            try:  # the inbox keeps treasury's list; it may have been stopped meanwhile
                await workflow.get_external_workflow_handle(req.inbox_workflow_id).signal(REPORT_SIGNAL, report)
            except Exception as err:  # noqa: BLE001 - the case stays on this workflow and the message
                workflow.logger.warning("inbox %s not told about %s: %s", req.inbox_workflow_id, req.bank_message_id,
                                        err)
            self._show()
        return report

    async def _post(self, req: StatementPostRequest) -> StatementOutcome | None:
        report, outcome = self._report, None
        assert report is not None  # set by run()
        for look in range(1, req.looks + 1):
            try:
                outcome = await self._call(A.post_statement_to_erp, req.bank_message_id,
                                           summary="post the statement to the ERP once "
                                                   "(or ask the ERP what became of it)",
                                           via=opts.ERP_STATEMENT)
            except ActivityError as err:  # a business refusal: outages are retried inside _call
                report.problems.append(f"statement not posted to the ERP: {err.cause or err}")
                return None
            report.posted, report.already_posted = outcome.posted, outcome.already_posted
            if not outcome.unknown:
                report.problems += outcome.problems
                return outcome
            workflow.set_current_details(f"look {look} of {req.looks}: the ERP shows no trace yet of {outcome.unknown}")
            if look < req.looks:
                # The ERP may still be working on the lost post: looking again too soon would miss it.
                await workflow.sleep(timedelta(seconds=req.settle_seconds),
                                     summary="let the ERP finish an unanswered post")
        assert outcome is not None  # looks >= 1
        minutes = round(req.settle_seconds * (req.looks - 1) / 60, 1)
        report.problems += outcome.problems + [
            f"statement {key} was sent to the ERP without a recorded answer, and after {req.looks} looks "
            f"over {minutes} min "
            "the ERP shows no trace of it (no payment of its cleared, no return reopened); finsync will not post it "
            "again: check the ERP's bank statement log and post it by hand if it is not there"
            for key in outcome.unknown]
        return outcome

    def _show(self) -> None:
        outage = self._outages.first()
        if outage is not None:
            owner, kind = outage.owner.value, outage.type
        elif self._report is not None and self._report.problems:
            owner, kind = "treasury-ops", CASE_TYPE
        else:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_unset(), sa.EXCEPTION_TYPE.value_unset()])
            return
        workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set(owner), sa.EXCEPTION_TYPE.value_set(kind)])

    @workflow.query
    def report(self) -> StatementReport | None:
        return self._report
