"""Benchmark: InvoiceToPayment lifecycles (RECEIVED → SCHEDULED) against a 3-no-op-activity baseline.

Why: tells how much finsync itself (ERP validation and exactly-once posting over HTTP, the
treasury upsert in SQLite, search attributes, current details, history notes and the
pydantic/codec payloads) costs on top of what Temporal costs on this box for a workflow
with the same three activity steps. Not a test: it prints figures and ratios, and fails
(exit 1) only when the run is wrong (SAP did not get exactly N posts, a lifecycle did not
reach SCHEDULED, the treasury misses an outflow).

Everything it needs is its own and stopped at the end: a Temporal dev server (in memory,
or with --sqlite a WAL/synchronous=off SQLite file, as the embedded stack runs it), a
mock-sap (stopped by its PID), the real worker (worker.build_worker) on a uuid task queue,
a fresh codec key and a temp treasury database.

    .venv/bin/python bench/lifecycle_throughput.py [-n 200] [--sqlite] [--poll-ms 100]

How latency is measured (so the measuring does not become the load): every workflow is
started at once, with its wall-clock start time taken just before its start call. A
single poller lists this run's task queue through visibility every --poll-ms
(`InvoiceStatus="SCHEDULED"` for invoices, `ExecutionStatus="Completed"` for no-ops), one
RPC per poll however many workflows run, instead of N query loops (a query costs a worker
workflow task per call). Once all are seen, each workflow is asked once: invoices through
the `status` query (which must say SCHEDULED), whose history records the workflow time of
the SCHEDULED step; no-ops through their result, which is the workflow time after the
third activity. Latency = that workflow time - the start time (one machine, one clock).
The visibility detection time (later by up to one poll interval plus the visibility
write) is printed too, as a cross-check.
"""

import argparse
import asyncio
import base64
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from temporalio import activity, workflow

# The sandbox re-executes this file (as `__temporal_main__`) for each run of the no-op
# workflow, so everything below is passed through (loaded once, outside the sandbox) and
# the entry point sits under `if __name__ == "__main__"`.
with workflow.unsafe.imports_passed_through():
    if __name__ == "__main__":  # run as a script from bench/, where the project is not importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # (the sandbox's copy has it already)

    import httpx
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from temporalio.client import Client
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from adapters.bank import BankClient
    from adapters.sap import SapClient
    from adapters.treasury_store import TreasuryStore
    from canonical.invoice import Invoice
    from canonical.status import InvoiceLifecycleStatus
    from cli.processes import BIN, free_port, mock_sap
    from codec.bank_details import data_converter, load_codec
    from settings import Settings
    from worker import build_worker
    from workflows import activity_options as opts
    from workflows import search_attributes as sa
    from workflows.invoice_lifecycle import InvoiceToPayment

SUPPLIERS = ["1000013", "1000014", "1000015", "1000016"]
SI_SRV = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV"
SI_PATH = f"{SI_SRV}/A_SupplierInvoice"


# -- the baseline: 3 sequential no-op activities, the lifecycle's activity options --------

@activity.defn(name="bench_noop_validate")
async def noop_validate(ref: str) -> str:
    return ref


@activity.defn(name="bench_noop_post")
async def noop_post(ref: str) -> str:
    return ref


@activity.defn(name="bench_noop_register")
async def noop_register(ref: str) -> str:
    return ref


@workflow.defn(name="BenchNoOpThreeSteps")
class NoOpThreeSteps:
    """Same shape as the lifecycle up to SCHEDULED: ERP, ERP, treasury options, in sequence.
    Runs in the default sandbox like InvoiceToPayment, so the ratio does not credit finsync
    with the sandbox's cost."""

    @workflow.run
    async def run(self, ref: str) -> datetime:
        await workflow.execute_activity(noop_validate, ref, **opts.ERP)
        await workflow.execute_activity(noop_post, ref, **opts.ERP)
        await workflow.execute_activity(noop_register, ref, **opts.TREASURY)
        return workflow.now()


# -- measuring ----------------------------------------------------------------------------

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


class CpuMeter:
    """CPU seconds of this process (client + worker, all threads), the dev server and mock-sap."""

    def __init__(self, pids: dict[str, int]):
        self._pids = pids
        self._tick = os.sysconf("SC_CLK_TCK")

    def _proc(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime

    def sample(self) -> dict[str, float]:
        return {"bench process": time.process_time(), **{name: self._proc(pid) for name, pid in self._pids.items()}}


def dev_server_pid(port: int) -> int | None:
    """The SDK starts the dev server as our child and exposes no PID: find it in /proc (read only)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and str(port).encode() in cmd:
            return int(entry.name)
    return None


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


def make_invoice(ref: str, supplier_id: str) -> Invoice:
    return Invoice.model_validate({
        "company_code": "1710",
        "supplier_id": supplier_id,
        "supplier_invoice_ref": ref,
        "invoice_date": date.today().isoformat(),
        "currency": "EUR",
        "net_amount": "1000.00",
        "tax_amount": "190.00",
        "gross_amount": "1190.00",
        "payment_terms": {"code": "NT30", "net_days": 30},  # due in 30 days: no timer fires
        "lines": [
            {"line_no": 1, "description": "Consulting", "net_amount": "600.00", "quantity": "6", "unit_price": "100.00"},
            {"line_no": 2, "description": "Travel", "net_amount": "400.00"},
        ],
    })


async def run_invoices(client: Client, worker: Worker, cpu: CpuMeter, n: int, prefix: str, args) -> tuple[Phase, list[Invoice], list[str]]:
    """N lifecycles at once; returns the phase, the invoices and the problems found."""
    phase = Phase("invoice lifecycles", n)
    invoices = [make_invoice(f"{prefix}{i:05d}", SUPPLIERS[i % len(SUPPLIERS)]) for i in range(n)]
    starts = {
        inv.workflow_id: (lambda inv=inv: client.start_workflow(
            InvoiceToPayment.run, inv, id=inv.workflow_id, task_queue=worker.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"{inv.supplier_id} {inv.gross_amount} {inv.currency} due {inv.net_due_date}",
        ))
        for inv in invoices
    }
    query = f'TaskQueue="{worker.task_queue}" AND InvoiceStatus="SCHEDULED"'
    before = cpu.sample()
    watcher = asyncio.create_task(watch(client, query, phase, args.poll_ms / 1000, time.time() + args.timeout))
    await start_all(phase, starts)
    await watcher
    phase.cpu = {k: v - before[k] for k, v in cpu.sample().items()}

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
    sem = asyncio.Semaphore(16)
    documents: set[str] = set()

    async def ask(wf_id: str) -> None:
        async with sem:
            view = await client.get_workflow_handle(wf_id).query("status", result_type=InvoiceLifecycleStatus)
        if view.status.value != "SCHEDULED":
            problems.append(f"{wf_id}: status query says {view.status.value}")
            return
        phase.done_at[wf_id] = [h.at for h in view.history if h.status.value == "SCHEDULED"][-1].timestamp()
        documents.add(view.erp_document.invoice_document)

    await asyncio.gather(*(ask(wf_id) for wf_id in phase.started_at))
    if len(documents) != n:
        problems.append(f"{n} lifecycles name {len(documents)} distinct ERP documents")
    return phase, invoices, problems


async def run_noops(client: Client, worker: Worker, cpu: CpuMeter, n: int, prefix: str, args) -> tuple[Phase, list[str]]:
    phase = Phase("no-op workflows", n)
    starts = {
        f"bench-noop-{prefix}{i:05d}": (lambda wf_id=f"bench-noop-{prefix}{i:05d}": client.start_workflow(
            NoOpThreeSteps.run, wf_id, id=wf_id, task_queue=worker.task_queue,
        ))
        for i in range(n)
    }
    query = f'TaskQueue="{worker.task_queue}" AND ExecutionStatus="Completed"'
    before = cpu.sample()
    watcher = asyncio.create_task(watch(client, query, phase, args.poll_ms / 1000, time.time() + args.timeout))
    await start_all(phase, starts)
    await watcher
    phase.cpu = {k: v - before[k] for k, v in cpu.sample().items()}
    if len(phase.seen_at) < n:
        return phase, [f"{n - len(phase.seen_at)} of {n} no-op workflows not completed after {args.timeout:g} s"]
    sem = asyncio.Semaphore(16)

    async def result(wf_id: str) -> None:
        async with sem:
            finished = await client.get_workflow_handle(wf_id, result_type=datetime).result()
        phase.done_at[wf_id] = finished.timestamp()

    await asyncio.gather(*(result(wf_id) for wf_id in phase.started_at))
    return phase, []


# -- SAP and treasury checks --------------------------------------------------------------

async def sap_post_count(sap_url: str) -> tuple[int, int, int]:
    """(POST A_SupplierInvoice answered 201, other POSTs to it, all logged SAP requests)."""
    async with httpx.AsyncClient(base_url=sap_url, timeout=30) as http:
        rows = (await http.get("/_mock/requests", params={"limit": 10_000_000})).raise_for_status().json()["results"]
    posts = [r for r in rows if r["method"] == "POST" and r["path"] == SI_PATH]
    created = sum(1 for r in posts if r["status"] == 201)
    return created, len(posts) - created, len(rows)


async def sap_invoices_with_prefix(sap_url: str, prefix: str) -> list[str]:
    async with httpx.AsyncClient(base_url=sap_url, headers={"sap-client": "100", "Accept": "application/json"}, timeout=30) as http:
        r = await http.get(SI_PATH, params={
            "$filter": f"startswith(SupplierInvoiceIDByInvcgParty,'{prefix}')",
            "$select": "SupplierInvoiceIDByInvcgParty", "$top": "100000", "$format": "json",
        })
    r.raise_for_status()
    return [row["SupplierInvoiceIDByInvcgParty"] for row in r.json()["d"]["results"]]


# -- report -------------------------------------------------------------------------------

def report(noop: Phase, inv: Phase, alone: dict[str, list[float]], sap_requests_per_invoice: float) -> None:
    def line(p: Phase) -> str:
        exact = p.latencies(p.done_at)
        seen = p.latencies(p.seen_at)
        return (f"{p.name:<22}{p.n:>5}{p.rate:>9.1f}{pct(exact, 50):>9.0f}{pct(exact, 95):>9.0f}{pct(exact, 100):>9.0f}"
                f"{pct(seen, 50):>11.0f}{pct(seen, 95):>9.0f}{p.starts_done - p.t0:>9.2f}{p.polls:>7}")

    print(f"\n{'':<22}{'n':>5}{'wf/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'seen p50':>11}{'seen p95':>9}{'starts s':>9}{'polls':>7}")
    print(line(noop))
    print(line(inv))
    print("  (p50/p95/max: start → workflow time of SCHEDULED / of the no-op's end; seen: start → first visibility hit)")

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
    print(f"p50 latency invoice/no-op:  {pct(inv.latencies(inv.done_at), 50) / pct(noop.latencies(noop.done_at), 50):.2f}")
    print(f"p50 start→SCHEDULED:        {pct(inv.latencies(inv.done_at), 50):.0f} ms, p95 {pct(inv.latencies(inv.done_at), 95):.0f} ms")
    print(f"p50 no-op start→end:        {pct(noop.latencies(noop.done_at), 50):.0f} ms, p95 {pct(noop.latencies(noop.done_at), 95):.0f} ms")
    if alone["invoice"]:
        print(f"one at a time (warm-up, {len(alone['invoice'])} each): invoice p50 {pct(alone['invoice'], 50):.0f} ms "
              f"max {pct(alone['invoice'], 100):.0f} ms; no-op p50 {pct(alone['no-op'], 50):.0f} ms max {pct(alone['no-op'], 100):.0f} ms")
    print(f"SAP requests per invoice:   {sap_requests_per_invoice:.2f}")


async def measure(client: Client, settings: Settings, sap_url: str, store: TreasuryStore, cpu: CpuMeter,
                  args: argparse.Namespace, prefix: str, warm_prefix: str) -> list[str]:
    # The lifecycles stop at SCHEDULED and never reach the bank: settings.bank_url is an
    # address nothing listens on (as in tests/helpers.new_worker).
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
        inv_worker = build_worker(client, settings, sap, store, bank)
        # build_worker's defaults (slots, sandboxed runner, shutdown grace); only the workflow differs.
        noop_worker = Worker(
            client, task_queue=f"bench-noop-{uuid.uuid4()}", workflows=[NoOpThreeSteps],
            activities=[noop_validate, noop_post, noop_register],
            graceful_shutdown_timeout=inv_worker.config()["graceful_shutdown_timeout"],
        )
        async with inv_worker, noop_worker:
            # Warm-up, one workflow at a time: loads the sandboxed modules, fetches the CSRF
            # token, and gives the latency of a lone workflow on an idle worker.
            alone: dict[str, list[float]] = {"no-op": [], "invoice": []}
            for i in range(args.warmup):
                p1, _, problems = await run_invoices(client, inv_worker, cpu, 1, f"{warm_prefix}{i:02d}", args)
                p2, more = await run_noops(client, noop_worker, cpu, 1, f"{warm_prefix}{i:02d}", args)
                if problems or more:
                    return [f"warm-up: {p}" for p in problems + more]
                alone["invoice"] += p1.latencies(p1.done_at)
                alone["no-op"] += p2.latencies(p2.done_at)
            noop, failures = await run_noops(client, noop_worker, cpu, args.n, prefix, args)
            if failures:
                return failures
            posts_before, _, requests_before = await sap_post_count(sap_url)
            inv, invoices, failures = await run_invoices(client, inv_worker, cpu, args.n, prefix, args)

    posts_after, refused, requests_after = await sap_post_count(sap_url)
    posted = posts_after - posts_before
    refs = await sap_invoices_with_prefix(sap_url, prefix)
    outflows = sum(1 for i in invoices if store.get_outflow(i.key) is not None)
    if not failures:
        report(noop, inv, alone, (requests_after - requests_before) / args.n)
    print(f"\nSAP invoices posted (POST A_SupplierInvoice -> 201, request log): {posted} (expected {args.n}); "
          f"POSTs not answered 201: {refused}")
    print(f"SAP invoices with this run's references ($filter): {len(refs)}, distinct references {len(set(refs))}")
    print(f"treasury outflows registered: {outflows}")
    if posted != args.n:
        failures.append(f"SAP got {posted} invoice posts, expected {args.n}")
    if len(refs) != args.n or len(set(refs)) != args.n:
        failures.append(f"SAP holds {len(refs)} invoices ({len(set(refs))} distinct references) for {args.n} lifecycles")
    if outflows != args.n:
        failures.append(f"treasury holds {outflows} outflows for {args.n} lifecycles")
    return failures


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:5].upper()
    prefix, warm_prefix = f"B{run}", f"W{run}"  # + 5 or 2+5 digits: at most 13 characters, within SAP's 16
    sap_port, temporal_port = free_port(), free_port()
    sap_url = f"http://127.0.0.1:{sap_port}"
    settings = Settings(
        # A fresh key: nothing outside this run reads these histories.
        codec_key=base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
        task_queue=f"bench-{uuid.uuid4()}",
        sap_url=sap_url,
        bank_url="http://127.0.0.1:9",  # discard port: nothing listens; this benchmark never pays
    )
    tmp = tempfile.TemporaryDirectory(prefix="finsync-bench-")
    server_args: dict = {}
    if args.sqlite:
        # The embedded stack's setting: a file, WAL, and no fsync per commit.
        server_args = dict(
            dev_server_database_filename=str(Path(tmp.name) / "temporal.db"),
            dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"],
        )
    sap_proc = mock_sap(sap_port, clock=f"{date.today()}T09:00", log=Path(tmp.name) / "mock-sap.log")
    env: WorkflowEnvironment | None = None
    try:
        sap_proc.start()
        sap_proc.wait_http(f"{sap_url}/_mock/health")
        booted = time.perf_counter()
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=data_converter(load_codec(settings)),
            search_attributes=sa.ALL,
            port=temporal_port,
            dev_server_log_level="error",
            **server_args,
        )
        server_pid = dev_server_pid(temporal_port)
        print(f"dev server ({'SQLite file, WAL, synchronous=off' if args.sqlite else 'in memory'}) on :{temporal_port}, "
              f"pid {server_pid}, up in {time.perf_counter() - booted:.2f} s; mock-sap pid {sap_proc.pid} on :{sap_port}; "
              f"{os.cpu_count()} CPUs")
        print(f"n={args.n} of each, all started at once; warm-up {args.warmup} of each, one at a time; visibility poll every {args.poll_ms:g} ms; "
              f"load average {os.getloadavg()[0]:.2f} before")
        cpu = CpuMeter({"dev server": server_pid or -1, "mock-sap": sap_proc.pid})
        store = TreasuryStore(f"sqlite:///{Path(tmp.name) / 'treasury.db'}")
        failures = await measure(env.client, settings, sap_url, store, cpu, args, prefix, warm_prefix)
    finally:
        if env is not None:
            await env.shutdown()
        sap_proc.stop()  # by its PID
        tmp.cleanup()
    print(f"load average {os.getloadavg()[0]:.2f} after (other work on the box skews the wall-clock rates, not the CPU ratio)")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="lifecycles, and no-op workflows, per run (default 200)")
    parser.add_argument("--sqlite", action="store_true", help="dev server on a SQLite file (WAL, synchronous=off)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured workflows of each kind first, one at a time (default 5)")
    parser.add_argument("--poll-ms", type=float, default=100, help="visibility poll interval (default 100)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per phase before giving up (default 60)")
    sys.exit(asyncio.run(main(parser.parse_args())))
