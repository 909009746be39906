"""A local activity's round under the case machinery (workflows/counterpart_calls.py, `local=True`)
on the time-skipping test server, with the ERP's real options: each retry waits on a durable
timer, a round ends at the 30-minute outage SLA with the failure that ended it (so the outage case
opens, in its counterpart's words), the next round's success closes it, and a refusal ends the call
after one attempt."""

import uuid
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

import workflows.activity_options as opts
from workflows.counterpart_calls import Counterpart, call

CALLS: list[int] = []


@activity.defn(name="read_supplier")
async def read_supplier(failures: int) -> str:
    """Fails `failures` times as an outage (a negative count: refuses), then answers."""
    CALLS.append(1)
    if failures < 0:
        raise ApplicationError("supplier 9 does not exist", type="ErpRefused", non_retryable=True)
    if len(CALLS) <= failures:
        raise ApplicationError("no dialog work process available", type="ErpUnavailable")
    return "GLOBEX"


@workflow.defn(sandboxed=False)
class LocalRead:
    def __init__(self) -> None:
        self.log: list[str] = []

    def outage_opened(self, via: Counterpart, what: str, error: str) -> None:
        self.log.append(f"opened {via.case_type} at {self._minutes()}: {error}")

    def outage_persists(self, via: Counterpart, what: str, error: str) -> None:
        self.log.append(f"persists at {self._minutes()}")

    def outage_closed(self, via: Counterpart, what: str) -> None:
        self.log.append(f"closed at {self._minutes()}")

    def _minutes(self) -> int:
        return int((workflow.now() - workflow.info().start_time) / timedelta(minutes=1))

    @workflow.run
    async def run(self, failures: int) -> list[str]:
        try:
            answer = await call(read_supplier, failures, summary="read the supplier", via=opts.ERP, outages=self,
                                local=True)
        except ActivityError as err:
            assert isinstance(err.cause, ApplicationError)
            answer = f"refused: {err.cause.type}"
        return [*self.log, answer]


async def _run(skipping_env, failures: int) -> tuple[list[str], list]:
    CALLS.clear()
    client = skipping_env.client
    async with Worker(client, task_queue=f"tq-{uuid.uuid4()}", workflows=[LocalRead], activities=[read_supplier]) as w:
        handle = await client.start_workflow(LocalRead.run, failures, id=f"local-{uuid.uuid4()}",
                                             task_queue=w.task_queue)
        result = await handle.result()
        events = (await handle.fetch_history()).events
    return result, events


async def test_an_outage_opens_its_case_at_the_sla_and_the_answer_closes_it(skipping_env):
    log, events = await _run(skipping_env, failures=25)
    # Backoff 2, 4, ... 64 s, then 120 s: after the 20th attempt 28 minutes are waited and the next
    # wait would pass the 30-minute SLA, so the round ends; the next starts over at 2 s and the
    # 26th call (its 6th attempt, 62 s later) answers.
    assert log[0] == "opened ErpUnavailable at 28: no dialog work process available", log
    assert log[1:] == ["closed at 29", "GLOBEX"], log
    assert len(CALLS) == 26
    timers = [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    assert len(timers) == len(CALLS) - 2  # one per retry; none before the first attempt of a round
    assert all(e.user_metadata.summary.data.decode().endswith('retry: read the supplier"') for e in timers)
    assert [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED] == []


async def test_a_refusal_ends_the_call_after_one_attempt(skipping_env):
    log, events = await _run(skipping_env, failures=-1)
    assert log == ["refused: ErpRefused"] and len(CALLS) == 1
    assert [e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED] == []
