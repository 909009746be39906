"""Benchmark: the worker's memory per cached InvoiceToPayment lifecycle (what FINSYNC_MAX_CACHED_WORKFLOWS costs).

N lifecycles are started at once on the real worker (worker.build_worker, a cache larger than N)
and run to SCHEDULED, where they wait for a payment run: each stays in the worker's workflow cache
(unsandboxed, as the worker runs them; `--sandboxed` gives each its SDK sandbox for comparison).
The resident memory of this process (the worker runs in it) is read before and after, each
after a garbage collection and a warm-up of a few lifecycles (modules loaded, connections
open); the difference over N is the memory per cached lifecycle. Then the worker's
cache is emptied (a worker with max_cached_workflows=0 would replay every task) by stopping it, and
RSS is read again: Python rarely returns freed memory to the system, so that figure is an upper
bound of what stays. Servers are its own (bench/_stack.py) and stopped at the end.

    .venv/bin/python bench/worker_memory.py [-n 500] [--sandboxed]
"""

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

if __name__ == "__main__":  # run as a script from bench/, where the project is not importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from _stack import Stack, arguments, finish
from _throughput import run_invoices
from adapters.bank import BankClient
from adapters.sap import SapClient
from adapters.treasury_store import TreasuryStore
from worker import build_worker


def rss_mb() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def main(args: argparse.Namespace) -> int:
    stack = Stack(sqlite=args.sqlite, bank=False)
    settings = stack.settings(max_cached_workflows=args.n + 100)
    async with stack.running(settings) as client:
        store = TreasuryStore(f"sqlite:///{stack.dir / 'treasury.db'}")
        async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
            # --sandboxed: the SDK's default runner, which re-imports a workflow's own module in
            # a sandbox per instance (the worker runs unsandboxed: worker.WORKFLOW_RUNNER).
            runner = dict(workflow_runner=SandboxedWorkflowRunner()) if args.sandboxed else {}
            worker = build_worker(client, settings, sap, store, bank, **runner)
            async with worker:
                _, _, problems = await run_invoices(client, worker, stack.cpu_meter(), 5, "MWARM", args)
                if problems:
                    return finish(problems)
                before, cpu_before = rss_mb(), time.process_time()
                _, _, problems = await run_invoices(client, worker, stack.cpu_meter(), args.n, "MEM", args)
                if problems:
                    return finish(problems)
                await asyncio.sleep(2)  # the last tasks' completions
                cached, cpu = rss_mb(), time.process_time() - cpu_before
            after_stop = rss_mb()
    per = (cached - before) * 1024 / args.n
    print(f"RSS before {before:.0f} MB; with {args.n} more lifecycles cached (SCHEDULED, waiting) {cached:.0f} MB: "
          f"{per:.0f} KB per cached lifecycle; after the worker stopped {after_stop:.0f} MB")
    print(f"CPU seconds of this process (worker + bench) for the {args.n}: {cpu:.1f} "
          f"({cpu * 1000 / args.n:.0f} ms per lifecycle); sandboxed: {args.sandboxed}")
    print(f"so 1,000 cached: ~{per * 1000 / 1024:.0f} MB; 6,000 cached: ~{per * 6000 / 1024:.0f} MB")
    return finish([])


if __name__ == "__main__":
    parser = arguments(__doc__, 500, "lifecycles kept in the worker's cache")
    parser.add_argument("--poll-ms", type=float, default=200, help="visibility poll interval (default 200)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to reach SCHEDULED (default 300)")
    parser.add_argument("--sandboxed", action="store_true",
                        help="run the lifecycles in the SDK's default sandbox, as the worker did until 2026-11-28")
    sys.exit(asyncio.run(main(parser.parse_args())))
