"""Every activity call of every workflow goes through `call` (architecture invariant 12):

- a transient failure (the counterpart down, busy, slow) is retried by Temporal, without end;
- when it has failed for its counterpart's outage SLA, an owned outage case opens (and is
  escalated each further SLA), while the call keeps being retried;
- when the call finally succeeds, the case closes itself: nobody has to resolve an outage;
- a business failure (a non-retryable ApplicationError: the ERP refused, the bank refused
  the file) is raised to the workflow, which opens a case for a person as before;
- a cancellation of the workflow is raised too, so a cancelled workflow can clean up and end.

One round is one activity execution with `schedule_to_close = outage_sla`, so a healthy call
writes exactly the commands a plain `execute_activity` wrote: histories recorded before this
module existed replay unchanged, and no timer is started per call.

`local=True` runs the round as a local activity, in the workflow's own task: no activity task
round trip, and all local activities of one workflow task are one billable action. Only for
reads and keyed writes to our own store (docs/architecture.md, "Local activities"): after a
worker is lost, a local activity is run again as soon as the workflow task times out, so a
write to a counterpart whose lost request could still land later (the ERP, the bank) stays a
normal activity, whose start-to-close lets such a request finish before it is looked up.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from canonical.exceptions import ExceptionOwner


# Since this patch a lifecycle runs its reads and keyed treasury writes as local activities.
LOCAL_ACTIVITIES_PATCH = "local-activities-v1"
# A local attempt is tried once by the SDK; `_local_round` retries it itself on durable timers.
# Measured with the SDK's own local retries (1.35): retried in the worker, a failing round ran
# past its schedule-to-close without end, so no outage case would open; retried on its timers,
# the round ended with a bare timeout that no longer names the failure (nor the part to blame).
_ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)


@dataclass(frozen=True)
class Counterpart:
    """How finsync calls one counterpart: timeouts, retries, and who owns its outages."""

    name: str  # in words, for case reasons: "the ERP", "the bank"
    case_type: str  # the outage case's type, e.g. ErpUnavailable
    owner: ExceptionOwner
    start_to_close: timedelta
    retry: RetryPolicy
    outage_sla: timedelta  # failing this long opens (then escalates) an outage case
    heartbeat: timedelta | None = None
    # For writes made safe by "look it up before writing again": after a round that timed out
    # (its last attempt may still be in flight, and its answer is lost), wait this long so
    # whatever it sent has landed before the next round looks (architecture invariant 2).
    settle_after_timeout: timedelta | None = None
    # One activity that asks several counterparts (the near-duplicate check's reads): a failure
    # typed with a part's case_type is that part's outage, under its case as a call of its own
    # would open; any other failure is this counterpart's.
    parts: tuple["Counterpart", ...] = ()

    def __post_init__(self) -> None:
        # The server caps an attempt at the round: attempts shorter than the adapter's own
        # timeout would overlap, and a lookup could then miss a write still in flight.
        assert self.outage_sla >= self.start_to_close, f"{self.name}: outage SLA below start-to-close"

    def blamed(self, err: ActivityError) -> "Counterpart":
        """The counterpart whose outage `err` is: a part named by the failure's type, else this one."""
        failure = _last_failure(err)
        kind = failure.type if isinstance(failure, ApplicationError) else None
        return next((part for part in self.parts if part.case_type == kind), self)

    def options(self) -> dict[str, Any]:
        """Plain activity options (one round), for code that schedules activities itself."""
        return dict(start_to_close_timeout=self.start_to_close, schedule_to_close_timeout=self.outage_sla,
                    heartbeat_timeout=self.heartbeat, retry_policy=self.retry)

    def backoff(self, attempt: int, failure: BaseException | None) -> timedelta:
        """The wait before retry `attempt + 1`, by the retry policy or the counterpart's own ask."""
        asked = failure.next_retry_delay if isinstance(failure, ApplicationError) else None
        if asked is not None:
            return asked
        wait = self.retry.initial_interval * (self.retry.backoff_coefficient ** (attempt - 1))
        return min(wait, self.retry.maximum_interval or self.retry.initial_interval * 100)


class OutageListener(Protocol):
    """What a workflow does with an outage: open, escalate and close its case."""

    def outage_opened(self, via: Counterpart, what: str, error: str) -> None: ...

    def outage_persists(self, via: Counterpart, what: str, error: str) -> None: ...

    def outage_closed(self, via: Counterpart, what: str) -> None: ...


async def call(activity: Callable | str, *args: Any, summary: str, via: Counterpart, outages: OutageListener,
               result_type: type | None = None, local: bool = False) -> Any:
    """Run `activity(*args)` until it succeeds or fails for a business reason (raised)."""
    failing: list[Counterpart] = []  # whose outage cases this call opened (`via`, or its parts)
    while True:
        try:
            # The SDK takes an activity or its name; its typed overloads take one or the other.
            if local:
                result = await _local_round(activity, list(args), summary, via, result_type)
            else:
                result = await workflow.execute_activity(cast(Any, activity), args=list(args), summary=summary,
                                                         result_type=result_type, **via.options())
        except ActivityError as err:
            if is_business_failure(err) or isinstance(err.cause, CancelledError):
                raise  # a refusal, or the workflow was cancelled: neither is an outage
            blamed = via.blamed(err)
            if blamed in failing:
                outages.outage_persists(blamed, summary, describe(err))
            else:
                failing.append(blamed)
                outages.outage_opened(blamed, summary, describe(err))
            if via.settle_after_timeout is not None and isinstance(err.cause, TimeoutError):
                await workflow.sleep(via.settle_after_timeout, summary=f"let a timed-out call to {via.name} land")
            continue
        for failed in failing:
            outages.outage_closed(failed, summary)
        return result


async def _local_round(activity: Callable | str, args: list, summary: str, via: Counterpart,
                       result_type: type | None) -> Any:
    """One round as local attempts, each retried after its backoff on a durable timer, until the
    next retry would end past the outage SLA: then the last attempt's failure is raised, as a
    normal round's would be, naming the failure (and the part to blame)."""
    assert via.heartbeat is None, f"{via.name}: a heartbeating call can not run as a local activity"
    started, attempt = workflow.now(), 0
    while True:
        attempt += 1
        try:
            return await workflow.execute_local_activity(
                cast(Any, activity), args=args, summary=summary, result_type=result_type,
                start_to_close_timeout=via.start_to_close, retry_policy=_ONE_ATTEMPT)
        except (ActivityError, ApplicationError) as raised:
            # A local attempt's own failure comes bare (a timeout comes wrapped): wrapped here,
            # callers see what a normal activity's failure looks like.
            err = raised if isinstance(raised, ActivityError) else _wrapped(raised, activity)
            if is_business_failure(err) or isinstance(err.cause, CancelledError):
                raise err from err.__cause__
            wait = via.backoff(attempt, err.cause)
            if workflow.now() + wait - started > via.outage_sla:
                raise err from err.__cause__
            await workflow.sleep(wait, summary=f"retry: {summary}")


def _wrapped(failure: ApplicationError, activity: Callable | str) -> ActivityError:
    name = activity if isinstance(activity, str) else getattr(activity, "__name__", str(activity))
    err = ActivityError("Local activity failed", scheduled_event_id=0, started_event_id=0, identity="",
                        activity_type=name, activity_id="", retry_state=None)
    err.__cause__ = failure
    return err


def is_business_failure(err: ActivityError) -> bool:
    """A named refusal that retrying can only repeat; everything else is an outage."""
    cause = err.cause
    return isinstance(cause, ApplicationError) and cause.non_retryable


def describe(err: ActivityError) -> str:
    """The last failure in words: a schedule-to-close timeout wraps the attempt that failed."""
    cause = err.cause
    if isinstance(cause, TimeoutError) and cause.cause is not None:
        inner = cause.cause
        return str(inner.message if isinstance(inner, ApplicationError) else inner)
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or err)


def _last_failure(err: ActivityError) -> BaseException | None:
    """The attempt's own failure: a schedule-to-close timeout wraps the last one."""
    cause = err.cause
    return cause.cause if isinstance(cause, TimeoutError) and cause.cause is not None else cause
