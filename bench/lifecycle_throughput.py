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
import os
import sys
import uuid
from datetime import datetime
from pathlib import Path

from temporalio import activity, workflow

# A sandboxed runner would re-execute this file (as `__temporal_main__`) for each run of the
# no-op workflow; the worker's runner does not, but the imports stay passed through and the
# entry point sits under `if __name__ == "__main__"`, so the script works with either.
with workflow.unsafe.imports_passed_through():
    if __name__ == "__main__":  # run as a script from bench/, where the project is not importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # (the sandbox's copy has it already)

    from temporalio.client import Client
    from temporalio.worker import Worker

    import workflows.activity_options as opts
    from _history import print_timeline
    from _invoices import sap_our_invoices, sap_post_count  # bench/ is sys.path[0]
    from _stack import CpuMeter, Stack, arguments, finish
    from _throughput import report, run_invoices, run_noops
    from adapters.bank import BankClient
    from adapters.sap import SapClient
    from adapters.treasury_store import TreasuryStore
    from settings import Settings
    from worker import build_worker


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
    Runs with the worker's own workflow runner (unsandboxed, worker.WORKFLOW_RUNNER), as
    InvoiceToPayment does, so the ratio does not credit finsync with the sandbox's absence."""

    @workflow.run
    async def run(self, ref: str) -> datetime:
        await workflow.execute_activity(noop_validate, ref, **opts.ERP.options())
        await workflow.execute_activity(noop_post, ref, **opts.ERP.options())
        await workflow.execute_activity(noop_register, ref, **opts.TREASURY.options())
        return workflow.now()


# The no-op worker takes these from the lifecycles' worker, so only the workflow differs.
SAME_OPTIONS = ("graceful_shutdown_timeout", "workflow_runner", "max_concurrent_workflow_tasks",
                "max_concurrent_activities", "max_cached_workflows")


# -- the run: warm-up, N no-ops, N lifecycles, then what SAP and the treasury hold ---------

async def measure(client: Client, settings: Settings, sap_url: str, store: TreasuryStore, cpu: CpuMeter,
                  args: argparse.Namespace, prefix: str, warm_prefix: str) -> list[str]:
    # The lifecycles stop at SCHEDULED and never reach the bank: settings.bank_url is an
    # address nothing listens on (as in tests/helpers.new_worker).
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
        inv_worker = build_worker(client, settings, sap, store, bank)
        noop_worker = Worker(
            client, task_queue=f"bench-noop-{uuid.uuid4()}", workflows=[NoOpThreeSteps],
            activities=[noop_validate, noop_post, noop_register],
            **{option: inv_worker.config()[option] for option in SAME_OPTIONS},
        )
        async with inv_worker, noop_worker:
            # Warm-up, one workflow at a time: loads the modules, fetches the CSRF
            # token, and gives the latency of a lone workflow on an idle worker.
            alone: dict[str, list[float]] = {"no-op": [], "invoice": []}
            for i in range(args.warmup):
                p1, _, problems = await run_invoices(client, inv_worker, cpu, 1, f"{warm_prefix}{i:02d}", args)
                p2, more = await run_noops(client, noop_worker, NoOpThreeSteps.run, cpu, 1, f"{warm_prefix}{i:02d}",
                                           args)
                if problems or more:
                    return [f"warm-up: {p}" for p in problems + more]
                alone["invoice"] += p1.latencies(p1.done_at)
                alone["no-op"] += p2.latencies(p2.done_at)
            if args.timeline:  # where a lone invoice's milliseconds go: its last warm-up's history
                (wf_id, started), = p1.started_at.items()
                await print_timeline(client, wf_id, started)
            noop, failures = await run_noops(client, noop_worker, NoOpThreeSteps.run, cpu, args.n, prefix, args)
            if failures:
                return failures
            posts_before, _, requests_before = await sap_post_count(sap_url)
            inv, invoices, failures = await run_invoices(client, inv_worker, cpu, args.n, prefix, args)

    posts_after, refused, requests_after = await sap_post_count(sap_url)
    posted = posts_after - posts_before
    refs = [row["SupplierInvoiceIDByInvcgParty"] for row in await sap_our_invoices(sap_url, prefix, timeout=30)]
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
        failures.append(f"SAP holds {len(refs)} invoices ({len(set(refs))} distinct references) "
                        f"for {args.n} lifecycles")
    if outflows != args.n:
        failures.append(f"treasury holds {outflows} outflows for {args.n} lifecycles")
    return failures


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:5].upper()
    prefix, warm_prefix = f"B{run}", f"W{run}"  # + 5 or 2+5 digits: at most 13 characters, within SAP's 16
    stack = Stack(sqlite=args.sqlite, bank=False)  # bank_url: the discard port, this benchmark never pays
    settings = stack.settings()
    async with stack.running(settings) as client:
        print(f"dev server ({stack.server_kind}) on :{stack.temporal_port}, pid {stack.server_pid}, "
              f"up in {stack.boot_seconds:.2f} s; mock-sap pid {stack.sap.pid} on :{stack.sap_port}; "
              f"{os.cpu_count()} CPUs")
        print(f"n={args.n} of each, all started at once; warm-up {args.warmup} of each, one at a time; "
              f"visibility poll every {args.poll_ms:g} ms; load average {os.getloadavg()[0]:.2f} before")
        store = TreasuryStore(f"sqlite:///{stack.dir / 'treasury.db'}")
        failures = await measure(client, settings, stack.sap_url, store, stack.cpu_meter(), args, prefix, warm_prefix)
    return finish(failures, " (other work on the box skews the wall-clock rates, not the CPU ratio)")


if __name__ == "__main__":
    parser = arguments(__doc__, 200, "lifecycles, and no-op workflows, per run")
    parser.add_argument("--warmup", type=int, default=5,
                        help="unmeasured workflows of each kind first, one at a time (default 5)")
    parser.add_argument("--poll-ms", type=float, default=100, help="visibility poll interval (default 100)")
    parser.add_argument("--timeline", action="store_true",
                        help="print the last warm-up invoice's history events with their times")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per phase before giving up (default 60)")
    sys.exit(asyncio.run(main(parser.parse_args())))
