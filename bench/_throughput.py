"""N workflows started at once and timed, for bench/lifecycle_throughput.py: invoice lifecycles
to SCHEDULED and no-op workflows to their end, seen through one visibility list per poll
(never a query loop per workflow), then asked once each for the workflow time they got there;
and the table and ratios it prints."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_throughput.py: a helper of the bench scripts, nothing to measure")
    sys.exit(0)

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import Client
from temporalio.worker import Worker

from _invoices import make_invoice, start_lifecycle
from _stack import CpuMeter
from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from workflows import search_attributes as sa

SUPPLIERS = ["1000013", "1000014", "1000015", "1000016"]


@dataclass
class Phase:
    name: str
    n: int
    t0: float = 0.0  # wall clock just before the first start call
    starts_done: float = 0.0
    started_at: dict[str, float] = field(default_factory=dict)  # workflow id -> wall clock
    done_at: dict[str, float] = field(default_factory=dict)  # workflow id -> workflow clock
    seen_at: dict[str, float] = field(default_factory=dict)  # workflow id -> first visibility hit
    polls: int = 0
    cpu: dict[str, float] = field(default_factory=dict)

    def latencies(self, ends: dict[str, float]) -> list[float]:
        return sorted(ends[i] - self.started_at[i] for i in ends)

    @property
    def rate(self) -> float:
        return self.n / (max(self.done_at.values()) - self.t0)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile, in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def watch(client: Client, query: str, phase: Phase, interval: float, deadline: float) -> None:
    """One visibility list per interval; records when each of the phase's workflows first matches."""
    while len(phase.seen_at) < phase.n:
        phase.polls += 1
        async for wf in client.list_workflows(query, page_size=1000):
            if wf.id in phase.started_at and wf.id not in phase.seen_at:
                phase.seen_at[wf.id] = time.time()
        if time.time() > deadline:
            return
        await asyncio.sleep(interval)


async def start_all(phase: Phase, starts: dict[str, Callable[[], Awaitable]]) -> None:
    async def one(wf_id: str, start: Callable[[], Awaitable]) -> None:
        phase.started_at[wf_id] = time.time()
        await start()

    phase.t0 = time.time()
    await asyncio.gather(*(one(wf_id, start) for wf_id, start in starts.items()))
    phase.starts_done = time.time()


async def timed(client: Client, cpu: CpuMeter, phase: Phase, starts: dict[str, Callable[[], Awaitable]],
                query: str, args) -> None:
    """Starts all at once and watches `query` until all match (or --timeout); CPU per process meanwhile."""
    before = cpu.sample()
    watcher = asyncio.create_task(watch(client, query, phase, args.poll_ms / 1000, time.time() + args.timeout))
    await start_all(phase, starts)
    await watcher
    phase.cpu = cpu.since(before)


async def each(wf_ids, ask: Callable[[str], Awaitable[None]]) -> None:
    """`ask(wf_id)` for every workflow, at most 16 at a time."""
    sem = asyncio.Semaphore(16)

    async def one(wf_id: str) -> None:
        async with sem:
            await ask(wf_id)

    await asyncio.gather(*(one(wf_id) for wf_id in wf_ids))


async def run_invoices(client: Client, worker: Worker, cpu: CpuMeter, n: int, prefix: str,
                       args) -> tuple[Phase, list[Invoice], list[str]]:
    """N lifecycles at once; returns the phase, the invoices and the problems found."""
    phase = Phase("invoice lifecycles", n)
    invoices = [make_invoice(f"{prefix}{i:05d}", SUPPLIERS[i % len(SUPPLIERS)]) for i in range(n)]
    starts = {
        inv.workflow_id: (lambda inv=inv: start_lifecycle(
            client, inv, worker.task_queue,
            static_summary=f"{inv.supplier_id} {inv.gross_amount} {inv.currency} due {inv.net_due_date}",
        ))
        for inv in invoices
    }
    await timed(client, cpu, phase, starts, f'TaskQueue="{worker.task_queue}" AND InvoiceStatus="SCHEDULED"', args)

    problems: list[str] = []
    if len(phase.seen_at) < n:
        tally: dict[str, int] = {}
        async for wf in client.list_workflows(f'TaskQueue="{worker.task_queue}"'):
            attrs = wf.typed_search_attributes
            key = f"{attrs.get(sa.INVOICE_STATUS)} {attrs.get(sa.EXCEPTION_TYPE) or ''}".strip()
            tally[key] = tally.get(key, 0) + 1
        problems.append(f"{n - len(phase.seen_at)} of {n} lifecycles not SCHEDULED after {args.timeout:g} s: {tally}")
        return phase, invoices, problems

    # One status query per lifecycle, after the clock stopped: it must say SCHEDULED, and its
    # history gives the workflow time of the SCHEDULED step.
    documents: set[str] = set()

    async def ask(wf_id: str) -> None:
        view = await client.get_workflow_handle(wf_id).query("status", result_type=InvoiceLifecycleStatus)
        if view.status.value != "SCHEDULED":
            problems.append(f"{wf_id}: status query says {view.status.value}")
            return
        phase.done_at[wf_id] = [h.at for h in view.history if h.status.value == "SCHEDULED"][-1].timestamp()
        documents.add(view.erp_document.invoice_document)

    await each(phase.started_at, ask)
    if len(documents) != n:
        problems.append(f"{n} lifecycles name {len(documents)} distinct ERP documents")
    return phase, invoices, problems


async def run_noops(client: Client, worker: Worker, noop_run, cpu: CpuMeter, n: int, prefix: str,
                    args) -> tuple[Phase, list[str]]:
    """N workflows of `noop_run` (which returns its workflow time at the end) at once."""
    phase = Phase("no-op workflows", n)
    starts = {
        f"bench-noop-{prefix}{i:05d}": (lambda wf_id=f"bench-noop-{prefix}{i:05d}": client.start_workflow(
            noop_run, wf_id, id=wf_id, task_queue=worker.task_queue,
        ))
        for i in range(n)
    }
    await timed(client, cpu, phase, starts, f'TaskQueue="{worker.task_queue}" AND ExecutionStatus="Completed"', args)
    if len(phase.seen_at) < n:
        return phase, [f"{n - len(phase.seen_at)} of {n} no-op workflows not completed after {args.timeout:g} s"]

    async def result(wf_id: str) -> None:
        finished = await client.get_workflow_handle(wf_id, result_type=datetime).result()
        phase.done_at[wf_id] = finished.timestamp()

    await each(phase.started_at, result)
    return phase, []


def report(noop: Phase, inv: Phase, alone: dict[str, list[float]], sap_requests_per_invoice: float) -> None:
    def line(p: Phase) -> str:
        exact = p.latencies(p.done_at)
        seen = p.latencies(p.seen_at)
        return (f"{p.name:<22}{p.n:>5}{p.rate:>9.1f}{pct(exact, 50):>9.0f}{pct(exact, 95):>9.0f}{pct(exact, 100):>9.0f}"
                f"{pct(seen, 50):>11.0f}{pct(seen, 95):>9.0f}{p.starts_done - p.t0:>9.2f}{p.polls:>7}")

    print(f"\n{'':<22}{'n':>5}{'wf/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
          f"{'seen p50':>11}{'seen p95':>9}{'starts s':>9}{'polls':>7}")
    print(line(noop))
    print(line(inv))
    print("  (p50/p95/max: start → workflow time of SCHEDULED / of the no-op's end; "
          "seen: start → first visibility hit)")

    print(f"\n{'CPU seconds':<22}" + "".join(f"{k:>16}" for k in inv.cpu) + f"{'per workflow ms':>18}")
    per_wf = {}
    for p in (noop, inv):
        total = sum(v for v in p.cpu.values() if v == v)  # skip NaN (a PID not found)
        per_wf[p.name] = 1000 * total / p.n
        print(f"{p.name:<22}" + "".join(f"{v:>16.2f}" for v in p.cpu.values()) + f"{per_wf[p.name]:>18.1f}")

    print(f"\ninvoices/s:                 {inv.rate:.1f}")
    print(f"no-op wf/s:                 {noop.rate:.1f}")
    print(f"ratio invoice/no-op:        {inv.rate / noop.rate:.2f}  (throughput)")
    # CPU per workflow hardly moves when other work shares the box; wall-clock rates do.
    print(f"ratio by CPU per workflow:  {per_wf[noop.name] / per_wf[inv.name]:.2f}  "
          f"(no-op {per_wf[noop.name]:.1f} ms / invoice {per_wf[inv.name]:.1f} ms, all three processes)")
    print(f"p50 latency invoice/no-op:  "
          f"{pct(inv.latencies(inv.done_at), 50) / pct(noop.latencies(noop.done_at), 50):.2f}")
    print(f"p50 start→SCHEDULED:        {pct(inv.latencies(inv.done_at), 50):.0f} ms, "
          f"p95 {pct(inv.latencies(inv.done_at), 95):.0f} ms")
    print(f"p50 no-op start→end:        {pct(noop.latencies(noop.done_at), 50):.0f} ms, "
          f"p95 {pct(noop.latencies(noop.done_at), 95):.0f} ms")
    if alone["invoice"]:
        print(f"one at a time (warm-up, {len(alone['invoice'])} each): invoice p50 {pct(alone['invoice'], 50):.0f} ms "
              f"max {pct(alone['invoice'], 100):.0f} ms; no-op p50 {pct(alone['no-op'], 50):.0f} ms "
              f"max {pct(alone['no-op'], 100):.0f} ms")
    print(f"SAP requests per invoice:   {sap_requests_per_invoice:.2f}")
