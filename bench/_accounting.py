"""What bench/end_to_end.py counts after a cycle: Temporal actions and history events of every
workflow on the run's dev server (read from their histories), and the time spent inside the
counterparts (mock-sap's request log, which has a server-side `duration_ms`, and every HTTP
request the in-process worker sent, timed client-side, because mock-bank's log has no
duration)."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_accounting.py: a helper of the bench scripts, nothing to measure")
    sys.exit(0)

import asyncio
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

E = EventType
# Temporal Cloud bills an "action" per: workflow start (client start, continue-as-new, child
# start: each run's WorkflowExecutionStarted, so a child counts once, in its own history),
# activity start or retry (scheduled + attempts beyond the first), timer started, signal
# (counted where it is received, so a signal from a workflow is not counted twice), update
# accepted, search-attribute or memo upsert, side effect, and all local activities of one
# workflow task together as one. Version markers (workflow.patched) and workflow tasks are not
# billed; queries and heartbeats are billed but never reach the history (the bench sends a
# handful of queries, nothing in finsync heartbeats through history), so they are left out.
BILLED = {
    E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow starts",
    E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activities",
    E.EVENT_TYPE_TIMER_STARTED: "timers",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signals",
    E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "updates",
    E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "SA upserts",
    E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "SA upserts",
}
ACTION_KINDS = ["workflow starts", "activities", "activity retries", "timers", "signals", "updates",
                "SA upserts", "local activities", "side effects"]


@dataclass
class Usage:
    """Per workflow type: executions (runs), history events and billable actions by kind."""
    runs: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)
    actions: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    not_billed: Counter = field(default_factory=Counter)  # markers and events worth naming
    # Events by type, per workflow type: what a lever that cuts events has to cut.
    by_type: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, wf_type: str, events) -> None:
        self.runs[wf_type] += 1
        acts = self.actions[wf_type]
        la_tasks: set[int] = set()
        for e in events:
            self.events[wf_type] += 1
            t = e.event_type
            self.by_type[wf_type][EventType.Name(t).removeprefix("EVENT_TYPE_")] += 1
            if t in BILLED:
                acts[BILLED[t]] += 1
            elif t == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                acts["activity retries"] += max(0, e.activity_task_started_event_attributes.attempt - 1)
            elif t == E.EVENT_TYPE_MARKER_RECORDED:
                attrs = e.marker_recorded_event_attributes
                if "local_activity" in attrs.marker_name:
                    la_tasks.add(attrs.workflow_task_completed_event_id)
                elif "side_effect" in attrs.marker_name:
                    acts["side effects"] += 1
                else:
                    self.not_billed[f"marker {attrs.marker_name}"] += 1
            elif t == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                self.not_billed["workflow tasks"] += 1
            elif t in (E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT, E.EVENT_TYPE_WORKFLOW_TASK_FAILED):
                # A task that ran again: too slow a worker (too many at once) or a failed one.
                self.not_billed["workflow tasks timed out or failed"] += 1
                if t == E.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:  # never started (sticky queue) or ran too long
                    kind = TimeoutType.Name(e.workflow_task_timed_out_event_attributes.timeout_type)
                    self.not_billed[f"workflow task {kind.removeprefix('TIMEOUT_TYPE_').lower()}"] += 1
        acts["local activities"] += len(la_tasks)

    def total_actions(self) -> int:
        return sum(sum(c.values()) for c in self.actions.values())

    def print(self, n: int) -> None:
        print(f"\nTemporal actions and history events per invoice (all {sum(self.runs.values())} workflow runs "
              f"on this dev server, / n={n})")
        head = f"  {'workflow type':<20}{'runs':>6}{'events':>9}{'actions':>9}"
        print(head + "".join(f"{k:>{max(len(k) + 2, 8)}}" for k in ACTION_KINDS))
        rows = [(t, self.runs[t], self.events[t], self.actions[t]) for t in sorted(self.runs)]
        total: Counter = Counter()
        for _, _, _, acts in rows:
            total.update(acts)
        rows.append(("all", sum(self.runs.values()), sum(self.events.values()), total))
        for name, runs, events, acts in rows:
            print(f"  {name:<20}{runs:>6}{events:>9}{sum(acts.values()):>9}"
                  + "".join(f"{acts[k]:>{max(len(k) + 2, 8)}}" for k in ACTION_KINDS))
        print(f"  per invoice: {sum(self.events.values()) / n:.1f} history events, "
              f"{self.total_actions() / n:.1f} billable actions "
              f"({', '.join(f'{k} {total[k] / n:.2f}' for k in ACTION_KINDS if total[k])})")
        print(f"  not billed: {dict(self.not_billed)}")
        for wf_type in sorted(self.runs):
            if self.runs[wf_type] >= n // 2:  # the lifecycle: one run per invoice
                runs = self.runs[wf_type]
                print(f"  {wf_type} events per run by type: "
                      + ", ".join(f"{k.lower()} {c / runs:.2f}" for k, c in self.by_type[wf_type].most_common()))


async def usage(client: Client, parallel: int = 16) -> Usage:
    """Every workflow run on the dev server (this bench's own), all their histories."""
    runs = [wf async for wf in client.list_workflows()]
    out = Usage()
    gate = asyncio.Semaphore(parallel)

    async def one(wf) -> None:
        async with gate:
            history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        out.add(wf.workflow_type, history.events)

    await asyncio.gather(*(one(wf) for wf in runs))
    return out


async def workflow_spans(client: Client, wf_type: str) -> list[tuple[float, float]]:
    """(start, close) wall clock of every closed run of a workflow type."""
    return [(wf.start_time.timestamp(), wf.close_time.timestamp())
            async for wf in client.list_workflows(f'WorkflowType="{wf_type}"') if wf.close_time]


# -- the counterparts' time -----------------------------------------------------------------

class HttpTimer:
    """Every request any httpx.AsyncClient in this process sends, timed (start, end) per host:port.
    The worker runs in this process, so this is the adapters' view of each counterpart."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[float, float, str, str]]] = defaultdict(list)
        self._original = httpx.AsyncClient.send

    def install(self) -> None:
        original, calls = self._original, self.calls

        async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs):
            start = time.time()
            try:
                return await original(client, request, **kwargs)
            finally:
                url = urlsplit(str(request.url))
                calls[f"{url.hostname}:{url.port}"].append((start, time.time(), request.method, url.path))

        httpx.AsyncClient.send = send  # type: ignore[method-assign]

    def uninstall(self) -> None:
        httpx.AsyncClient.send = self._original  # type: ignore[method-assign]

    def busy(self, base_url: str, t0: float, t1: float) -> tuple[int, float, float]:
        """(requests, summed seconds, seconds with at least one in flight) to `base_url`
        within [t0, t1], the bench's own control calls (BENCH_PATHS) left out."""
        url = urlsplit(base_url)
        spans = sorted((max(s, t0), min(e, t1)) for s, e, _, path in self.calls[f"{url.hostname}:{url.port}"]
                       if path not in BENCH_PATHS and e > t0 and s < t1)
        return len(spans), sum(e - s for s, e in spans), union(spans)


# What the bench itself asks the mocks (bench/_cycle.py); the worker's mailbox download
# (/_mock/mailbox on mock-bank) is the worker's and stays in.
BENCH_PATHS = {"/_mock/state", "/_mock/advance", "/_mock/payments", "/_mock/requests", "/_mock/health"}


def union(spans: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for s, e in sorted(spans):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


async def sap_request_log(sap_url: str) -> list[dict]:
    """mock-sap's request log (server-side `duration_ms`; its `ts` is the mock's clock, not ours)."""
    async with httpx.AsyncClient(base_url=sap_url, timeout=120) as http:
        r = await http.get("/_mock/requests", params={"limit": 10_000_000})
    return r.raise_for_status().json()["results"]
