"""BankInbox: a long-running workflow that reads the bank's mailbox, records every message
before acting on it, tells the lifecycles, and hands each statement to its own StatementPost.
Continues as new before its history grows large; problems travel with it.

Its history holds keys and counts only, whatever the bank sends: batches are sized by the
payments their messages name, the signals wait in the treasury store's outbox and an activity
sends them a bounded number at a time (a pain.002 can name 3,000 payments; workflow code
could signal at most 2,000 at once). A statement post runs as an abandoned child workflow,
so a slow post or an ERP outage on it never stops the inbox reading the bank for everyone else."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from activities.bank_inbox import BankInboxActivities as A
    from activities.lifecycle_delivery import LifecycleDeliveries as D
    from canonical.decision_record import DecisionRecord
    from canonical.inbox import (
        AcknowledgeProblems,
        BankInboxConfig,
        DeliveryRequest,
        InboxBatch,
        InboxProblem,
        MarkApplied,
        StatementPostRequest,
        StatementReport,
    )

import workflows.activity_options as opts
from workflows import decisions
from workflows import search_attributes as sa
from workflows.counterpart_calls import call
from workflows.decision_audit import DecisionAudit
from workflows.outage_board import OutageBoard
from workflows.statement_post import StatementPost, statement_post_id

_MAX_PROBLEMS = 200
_MAX_DECISIONS = 50  # the newest acknowledgements: enough to refuse a token used twice within its lifetime


@workflow.defn(name="BankInbox")
class BankInbox:
    def __init__(self) -> None:
        self._poll_now = False
        self._problems: list[InboxProblem] = []
        self._decisions: list[DecisionRecord] = []  # verified acknowledgements, carried on at continue-as-new
        self._applied = 0
        self._outages = OutageBoard(workflow.info().workflow_id, lambda: "BankInbox", on_change=self._show_problems)
        self._audit = DecisionAudit(self._outages)  # acknowledgements into the audit log

    async def _call(self, activity, *args, summary: str, via):
        """Every activity call: outages retry under a self-closing case (counterpart_calls)."""
        return await call(activity, *args, summary=summary, via=via, outages=self._outages)

    @workflow.run
    async def run(self, config: BankInboxConfig) -> None:
        self._problems = list(config.problems)
        self._decisions = list(config.decisions)
        self._show_problems()
        batch = InboxBatch(max_messages=config.batch_size, max_payments=config.batch_payments)
        for _ in range(config.iterations_before_continue_as_new):
            await self._call(A.collect_bank_messages, summary="record new bank messages", via=opts.BANK_INBOX)
            work = await self._call(A.interpret_bank_messages, batch, summary="match bank messages to payments",
                                    via=opts.TREASURY)
            problems = dict(work.problems)
            if work.signals_queued:
                told = await self._call(D.deliver_to_lifecycles, DeliveryRequest(batch_keys=work.message_ids),
                                        summary=f"tell lifecycles what the bank said ({work.signals_queued} signals)",
                                        via=opts.LIFECYCLE_CALLS)
                for key, problem in told.problems.items():
                    problems[key] = "; ".join(filter(None, [problems.get(key), problem]))
            for message_id in work.statements:
                await self._hand_over(message_id, config)
            if work.message_ids:
                await self._call(A.mark_messages_applied, MarkApplied(message_ids=work.message_ids, problems=problems),
                                 summary=f"{len(work.message_ids)} messages applied", via=opts.TREASURY)
            self._applied += len(work.message_ids)
            self._add_problems(problems)
            if workflow.info().is_continue_as_new_suggested():
                break
            if not work.more:  # caught up: wait for the next poll
                self._poll_now = False
                try:
                    await workflow.wait_condition(lambda: self._poll_now,
                                                  timeout=timedelta(seconds=config.poll_seconds),
                                                  timeout_summary="next mailbox poll")
                except TimeoutError:
                    pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._audit.drained()
        # Pinned to its build, the inbox moves to the current one at each continue-as-new.
        workflow.continue_as_new(config.model_copy(update={"problems": self._problems, "decisions": self._decisions}),
                                 initial_versioning_behavior=workflow.ContinueAsNewVersioningBehavior.AUTO_UPGRADE)

    async def _hand_over(self, message_id: str, config: BankInboxConfig) -> None:
        """The statement's post becomes its own workflow; the message counts as applied once it
        has started (it owns the post from then on and reports problems back by signal)."""
        request = StatementPostRequest(
            bank_message_id=message_id, inbox_workflow_id=workflow.info().workflow_id,
            settle_seconds=config.statement_settle_seconds, looks=config.statement_looks,
            rehint_seconds=config.statement_rehint_seconds)
        try:
            await workflow.start_child_workflow(StatementPost.run, request, id=statement_post_id(message_id),
                                                parent_close_policy=ParentClosePolicy.ABANDON,
                                                static_summary=f"post bank statement {message_id} to the ERP once")
        except WorkflowAlreadyStartedError:
            pass  # a post of this message is already under way (e.g. after the inbox was restarted)

    @workflow.signal
    def statement_reported(self, report: StatementReport) -> None:
        """A StatementPost's problems, for treasury's list (the inbox may have continued as new since)."""
        if report.problems:
            self._add_problems({report.bank_message_id: "; ".join(report.problems)})

    def _add_problems(self, problems: dict[str, str]) -> None:
        self._problems += [InboxProblem(bank_message_id=k, problem=v) for k, v in problems.items()]
        del self._problems[:-_MAX_PROBLEMS]
        self._show_problems()

    def _show_problems(self) -> None:
        open_problems = [p for p in self._problems if p.acknowledged_by is None]
        outage = self._outages.first()
        if outage is not None:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set(outage.owner.value),
                                               sa.EXCEPTION_TYPE.value_set(outage.type)])
        elif open_problems:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set("treasury-ops"),
                                               sa.EXCEPTION_TYPE.value_set("BankReconciliation")])
        else:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_unset(), sa.EXCEPTION_TYPE.value_unset()])
        workflow.set_current_details(f"{self._applied} messages applied; "
                                     f"{len(open_problems)} problems open for treasury-ops")

    @workflow.signal
    def poll_now(self) -> None:
        self._poll_now = True

    @workflow.query
    def status(self) -> dict:
        return {"applied": self._applied, "problems": [p.model_dump() for p in self._problems],
                "decisions": [d.model_dump(mode="json") for d in self._decisions]}

    @workflow.update
    def acknowledge_problems(self, request: AcknowledgeProblems | str) -> int:
        # A plain name is what histories from before decision tokens hold (replay only).
        person = decisions.person(request.token) if isinstance(request, AcknowledgeProblems) else None
        who = person.subject if person else str(request)
        count = 0
        for p in self._problems:
            if p.acknowledged_by is None:
                p.acknowledged_by, count = who, count + 1
        if person is not None:
            note = request.note if isinstance(request, AcknowledgeProblems) else None
            record = DecisionRecord(
                decision="acknowledge_inbox_problems", who=person.subject, verified_by=person.verified_by,
                token_id=person.token_id, action=f"acknowledged {count} inbox problems" + (f": {note}" if note else ""),
                before=f"{count} open", after="0 open", at=workflow.now())
            self._decisions.append(record)
            self._audit.add(record)
            del self._decisions[:-_MAX_DECISIONS]
        self._show_problems()
        return count

    @acknowledge_problems.validator
    def _validate_acknowledge(self, request: AcknowledgeProblems | str) -> None:
        if not isinstance(request, AcknowledgeProblems):
            raise ValueError("acknowledge_problems needs a signed decision token, not a name: python -m cli decision "
                             f"acknowledge_inbox_problems --as <you> --workflow-id {workflow.info().workflow_id}")
        person = decisions.verify(request.token, "acknowledge_inbox_problems")  # role treasury-ops
        if any(d.token_id == person.token_id for d in self._decisions):
            raise ValueError("this decision token was already used on the inbox; ask for a fresh one")
