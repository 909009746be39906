"""BankInbox: a long-running workflow that reads the bank's mailbox, records every message
before acting on it, signals the lifecycles, and posts statements to the ERP once.
Continues as new before its history grows large; problems travel with it."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.bank_inbox import BankInboxActivities as A
    from canonical.inbox import BankInboxConfig, InboxProblem, MarkApplied
    import workflows.activity_options as opts
    from workflows import search_attributes as sa
    from workflows.counterpart_calls import call
    from workflows.outage_board import OutageBoard

_MAX_PROBLEMS = 200
# Histories recorded before signals went out concurrently still replay the old way.
CONCURRENT_SIGNALS = "concurrent-signals-v1"


@workflow.defn(name="BankInbox")
class BankInbox:
    def __init__(self) -> None:
        self._poll_now = False
        self._problems: list[InboxProblem] = []
        self._applied = 0
        self._outages = OutageBoard(workflow.info().workflow_id, lambda: "BankInbox", on_change=self._show_problems)

    async def _call(self, activity, *args, summary: str, via):
        """Every activity call: outages retry under a self-closing case (counterpart_calls)."""
        return await call(activity, *args, summary=summary, via=via, outages=self._outages)

    @workflow.run
    async def run(self, config: BankInboxConfig) -> None:
        self._problems = list(config.problems)
        self._show_problems()
        for _ in range(config.iterations_before_continue_as_new):
            await self._call(A.collect_bank_messages, summary="record new bank messages", via=opts.BANK_INBOX)
            work = await self._call(A.interpret_bank_messages, config.batch_size,
                                                          summary="match bank messages to payments", via=opts.TREASURY)
            problems = dict(work.problems)
            await self._deliver([(d.workflow_id, d.signal, d.report, None) for d in work.deliveries], problems)
            for message_id in work.statements:
                try:
                    outcome = await self._call(A.post_statement_to_erp, message_id,
                                                                     summary="post the statement to the ERP once", via=opts.ERP_STATEMENT)
                except ActivityError as err:
                    # One statement the ERP could not take (or whose answer was lost) is treasury's
                    # case; the inbox keeps reading the bank for everyone else.
                    problems[message_id] = f"statement not posted to the ERP: {err.cause or err}"
                    continue
                await self._deliver([(w, "statement_posted", None, message_id) for w in outcome.notify_workflow_ids], problems)
                if outcome.problems:
                    problems[message_id] = "; ".join(filter(None, [problems.get(message_id), *outcome.problems]))
            if work.message_ids:
                await self._call(A.mark_messages_applied, MarkApplied(
                    message_ids=work.message_ids, problems=problems), summary=f"{len(work.message_ids)} messages applied", via=opts.TREASURY)
            self._applied += len(work.message_ids)
            self._add_problems(problems)
            if workflow.info().is_continue_as_new_suggested():
                break
            if len(work.message_ids) < config.batch_size:  # caught up: wait for the next poll
                self._poll_now = False
                try:
                    await workflow.wait_condition(lambda: self._poll_now, timeout=timedelta(seconds=config.poll_seconds),
                                                  timeout_summary="next mailbox poll")
                except TimeoutError:
                    pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(config.model_copy(update={"problems": self._problems}))

    async def _deliver(self, signals: list[tuple], problems: dict) -> None:
        """Signals to many lifecycles. One at a time costs ~100 ms each (10/s, measured with
        1,000 payments); concurrently, with each lifecycle's own signals still in order."""
        if not workflow.patched(CONCURRENT_SIGNALS):
            for workflow_id, signal, arg, message_id in signals:
                await self._signal(workflow_id, signal, arg, problems, message_id)
            return
        by_lifecycle: dict[str, list[tuple]] = {}
        for item in signals:
            by_lifecycle.setdefault(item[0], []).append(item)

        async def in_order(items: list[tuple]) -> None:
            for workflow_id, signal, arg, message_id in items:
                await self._signal(workflow_id, signal, arg, problems, message_id)

        await asyncio.gather(*(in_order(items) for items in by_lifecycle.values()))

    async def _signal(self, workflow_id: str, signal: str, arg, problems: dict, message_id: str | None = None) -> None:
        handle = workflow.get_external_workflow_handle(workflow_id)
        try:
            await (handle.signal(signal, arg) if arg is not None else handle.signal(signal))
        except Exception as err:  # a lifecycle that ended or never existed: report, keep going
            key = message_id or (arg.message_id if arg is not None else workflow_id)
            problems[key] = "; ".join(filter(None, [problems.get(key), f"{signal} to {workflow_id} failed: {err}"]))

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
        workflow.set_current_details(f"{self._applied} messages applied; {len(open_problems)} problems open for treasury-ops")

    @workflow.signal
    def poll_now(self) -> None:
        self._poll_now = True

    @workflow.query
    def status(self) -> dict:
        return {"applied": self._applied, "problems": [p.model_dump() for p in self._problems]}

    @workflow.update
    def acknowledge_problems(self, acknowledged_by: str) -> int:
        count = 0
        for p in self._problems:
            if p.acknowledged_by is None:
                p.acknowledged_by, count = acknowledged_by, count + 1
        self._show_problems()
        return count

    @acknowledge_problems.validator
    def _validate_acknowledge(self, acknowledged_by: str) -> None:
        if not acknowledged_by.strip():
            raise ValueError("say who acknowledges the problems")
