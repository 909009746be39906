"""Where a workflow's time went, for bench/payment_cycle.py, read from its history afterwards:
activities (scheduled -> closed) and runs of consecutive signals to other workflows (first
initiated -> last acknowledged), the history's size, and the listing printed from them."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_history.py: a helper of the bench scripts, nothing to measure")
    sys.exit(0)

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


@dataclass
class Span:
    what: str
    start: float
    end: float
    attempts: int = 1
    count: int = 1

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class HistorySize:
    events: int = 0
    bytes: int = 0
    largest: int = 0
    largest_what: str = ""

    def add(self, other: "HistorySize") -> None:
        self.events += other.events
        self.bytes += other.bytes
        if other.largest > self.largest:
            self.largest, self.largest_what = other.largest, other.largest_what

    def __str__(self) -> str:
        return (f"{self.events} events, {self.bytes / 1e6:.2f} MB; largest event {self.largest / 1e3:.0f} kB "
                f"({self.largest_what})")


def ts(event) -> float:
    """An event's time, in seconds since the epoch."""
    return event.event_time.seconds + event.event_time.nanos / 1e9


def spans(events) -> tuple[list[Span], HistorySize]:
    """Activities (scheduled -> closed) and runs of consecutive signals to other workflows
    (first initiated -> last acknowledged), in history order; and the history's size."""
    out: list[Span] = []
    by_scheduled: dict[int, Span] = {}
    signals: Span | None = None
    signal_of: dict[int, Span] = {}
    size = HistorySize()
    for e in events:
        size.events += 1
        nbytes = e.ByteSize()
        size.bytes += nbytes
        t = e.event_type
        if nbytes > size.largest:
            name = EventType.Name(t).removeprefix("EVENT_TYPE_")
            if t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                name += f" of {by_scheduled[e.activity_task_completed_event_attributes.scheduled_event_id].what}"
            elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                name += f" {e.activity_task_scheduled_event_attributes.activity_type.name}"
            size.largest, size.largest_what = nbytes, name
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            signals = None
            span = Span(e.activity_task_scheduled_event_attributes.activity_type.name, ts(e), ts(e))
            by_scheduled[e.event_id] = span
            out.append(span)
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            by_scheduled[e.activity_task_started_event_attributes.scheduled_event_id].attempts = \
                e.activity_task_started_event_attributes.attempt
        elif t in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
                   EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT):
            attrs = (e.activity_task_completed_event_attributes if t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                     else e.activity_task_failed_event_attributes if t == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                     else e.activity_task_timed_out_event_attributes)
            span = by_scheduled[attrs.scheduled_event_id]
            span.end = ts(e)
            if t != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                span.what += " (FAILED)" if t == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED else " (TIMED OUT)"
        elif t == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            name = e.signal_external_workflow_execution_initiated_event_attributes.signal_name
            if signals is None or not signals.what.startswith(f"signal {name}"):
                signals = Span(f"signal {name}", ts(e), ts(e), count=0)
                out.append(signals)
            signals.count += 1
            signal_of[e.event_id] = signals
        elif t in (EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED,
                   EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED):
            attrs = (e.external_workflow_execution_signaled_event_attributes
                     if t == EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED
                     else e.signal_external_workflow_execution_failed_event_attributes)
            span = signal_of.get(attrs.initiated_event_id)
            if span is not None:
                span.end = max(span.end, ts(e))
                if t != EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED and "FAILED" not in span.what:
                    span.what += " (some FAILED)"
    return out, size


async def history_spans(client: Client, workflow_id: str, run_id: str | None = None) -> tuple[list[Span], HistorySize]:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return spans(history.events)


async def inbox_spans(client: Client, workflow_id: str) -> tuple[list[Span], HistorySize, list[int]]:
    """Over every run of the inbox (it continues as new): spans, sizes, events per run."""
    runs = [wf async for wf in client.list_workflows(f'WorkflowId="{workflow_id}"')]
    out: list[Span] = []
    total, per_run = HistorySize(), []
    for wf in sorted(runs, key=lambda w: w.start_time):
        found, size = await history_spans(client, workflow_id, wf.run_id)
        out += found
        total.add(size)
        per_run.append(size.events)
    return out, total, per_run


def print_spans(title: str, found: list[Span], t0: float, min_seconds: float = 0.0) -> None:
    print(f"\n{title}")
    print(f"  {'at s':>8} {'took s':>8}  what")
    hidden, hidden_s = 0, 0.0
    for s in found:
        if s.seconds < min_seconds and not s.what.startswith("signal"):
            hidden, hidden_s = hidden + 1, hidden_s + s.seconds
            continue
        extra = (f" x{s.count}" if s.what.startswith("signal")
                 else (f" (attempt {s.attempts})" if s.attempts > 1 else ""))
        rate = f", {s.count / s.seconds:.0f}/s" if s.what.startswith("signal") and s.seconds > 0 else ""
        print(f"  {s.start - t0:8.1f} {s.seconds:8.2f}  {s.what}{extra}{rate}")
    if hidden:
        print(f"  ({hidden} shorter activities, {hidden_s:.1f} s together, not listed)")


async def print_timeline(client: Client, workflow_id: str, started: float) -> None:
    """Each history event's time after `started` (the wall clock before the start call), in ms."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    print(f"\n{workflow_id}: history events, ms after the start call")
    for e in history.events:
        at = (ts(e) - started) * 1000
        name = EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name += f" {e.activity_task_scheduled_event_attributes.activity_type.name}"
        elif e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            name += f" {e.marker_recorded_event_attributes.marker_name}"
        print(f"  {at:8.1f}  {name}")
