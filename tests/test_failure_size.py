"""An outage case names what failed, however deep the failure (codec/failures.py).

The server keeps a retrying activity's last failure only up to a size limit (4 KB on the dev
server); beyond it, it stores "Failure exceeds size limit." instead, and that is what the
workflow sees when the round's schedule-to-close ends. A connection error from httpx, wrapped
by the adapter and by the activity, came to ~4.8 KB with full stack traces: an ERP outage case
would then have said nothing about the ERP. Run on the dev server with the project's converter."""

import uuid
from datetime import timedelta

import httpx
from temporalio import activity, workflow
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.errors import transient_error
    from adapters.sap_errors import SapTransientError
    from codec.bank_details import data_converter, load_codec
    from codec.failures import STACK_TRACE_CHARS
    from workflows.counterpart_calls import describe


@activity.defn
async def post_to_unreachable_erp() -> None:
    """Fails as the SAP adapter fails when SAP is down: httpx's error, wrapped twice."""
    try:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                await http.post("http://127.0.0.1:9/sap/bc/idoc", content=b"<FINSTA01/>")  # nothing listens
        except httpx.HTTPError as e:
            raise SapTransientError(f"SAP did not answer POST /sap/bc/idoc: {type(e).__name__}: {e}") from e
    except SapTransientError as e:
        raise transient_error(f"the ERP (bank statement) is unavailable: {e}") from e


@workflow.defn(sandboxed=False)
class PostsWhileErpIsDown:
    @workflow.run
    async def run(self) -> str:
        try:
            await workflow.execute_activity(post_to_unreachable_erp, schedule_to_close_timeout=timedelta(seconds=4),
                                            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=300),
                                                                     backoff_coefficient=1.0))
        except ActivityError as err:
            return describe(err)  # what an outage case says (workflows/counterpart_calls.py)
        return "the ERP answered"


async def test_an_outage_case_names_the_failure_of_a_retried_erp_call(client: Client):
    queue = f"failure-size-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[PostsWhileErpIsDown], activities=[post_to_unreachable_erp]):
        said = await client.execute_workflow(PostsWhileErpIsDown.run, id=f"failure-size-{uuid.uuid4()}",
                                             task_queue=queue)
    assert "exceeds size limit" not in said
    assert said.startswith("the ERP (bank statement) is unavailable: "
                           "SAP did not answer POST /sap/bc/idoc: ConnectError"), said


def _raise_wrapped(message: str) -> None:
    """Three levels, as an adapter and an activity wrap a counterpart's error."""
    try:
        try:
            raise ConnectionRefusedError(f"connect to 127.0.0.1:9 refused ({message})")
        except OSError as e:
            raise SapTransientError(f"SAP did not answer: {e}") from e
    except SapTransientError as e:
        raise transient_error(f"the ERP is unavailable: {e}") from e


async def test_every_level_keeps_its_type_and_message_and_only_the_outermost_its_last_frames(test_settings):
    converter = data_converter(load_codec(test_settings))
    try:
        _raise_wrapped("x" * 3000)  # a long message is the message's size, kept whole
    except ApplicationError as raised:
        failure = Failure()
        await converter.encode_failure(raised, failure)
    assert [level.message for level in _levels(failure)] == ["Encoded failure"] * 3
    decoded = await converter.decode_failure(failure)
    levels = [e.failure for e in _chain(decoded)]  # as the SDK decoded each level
    assert [(type(e).__name__, getattr(e, "type", None)) for e in _chain(decoded)] == [
        ("ApplicationError", "CounterpartUnavailable"), ("ApplicationError", "SapTransientError"),
        ("ApplicationError", "ConnectionRefusedError")]
    assert [str(e.message) for e in _chain(decoded)][2] == f"connect to 127.0.0.1:9 refused ({'x' * 3000})"
    assert len(levels[0].stack_trace) <= STACK_TRACE_CHARS + 4 and "_raise_wrapped" in levels[0].stack_trace
    assert [level.stack_trace for level in levels[1:]] == ["", ""]


async def test_a_failure_quoting_an_account_stays_encrypted(test_settings):
    converter = data_converter(load_codec(test_settings))
    try:
        _raise_wrapped("payee NL91ABNA0417164300")
    except ApplicationError as raised:
        failure = Failure()
        await converter.encode_failure(raised, failure)
    assert b"NL91ABNA0417164300" not in failure.SerializeToString()
    assert "NL91ABNA0417164300" in str(_chain(await converter.decode_failure(failure))[2])


def _levels(failure: Failure) -> list[Failure]:
    """Each level of a failure as written to history."""
    out = [failure]
    while out[-1].HasField("cause"):
        out.append(out[-1].cause)
    return out


def _chain(error: BaseException | None) -> list:
    out = []
    while error is not None:
        out.append(error)
        error = error.__cause__
    return out
