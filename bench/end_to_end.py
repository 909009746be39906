"""Benchmark: N invoices end to end, from start to COMPLETED, on the embedded stack's settings.

Why: one honest figure for "is the durable system as fast as the script it replaces" (issue
10), with where the time goes. N InvoiceToPayment lifecycles are started at once from the
canonical invoice (each validates it against the ERP and posts it), reach SCHEDULED; one
PaymentRun pays them; a BankInbox delivers the bank's answers; the bank's clock then moves a
day at a time until every payment is booked and its statement (camt.053) is released, which
the inbox posts to the ERP as FINSTA01 (a StatementPost child), after which the lifecycles
complete. It is bench/payment_cycle.py's cycle (bench/_cycle.py), timed from the first start
call, with the dev server on a SQLite file (WAL, synchronous=off) as the embedded stack runs it.

It prints:
  * time per stage: start -> all SCHEDULED, the payment run (start -> end), the bank's answers
    delivered (run end -> all ACCEPTED; last booking advance -> all SETTLED), the statement
    posted (StatementPost start -> close), all COMPLETED, and end to end;
  * the share of wall time inside the counterparts: mock-sap from its request log (server-side
    duration_ms; its FINSTA01 IDoc post shown on its own), and both mocks as the worker's HTTP
    client saw them (mock-bank's request log has no durations); the rest is finsync + Temporal;
  * Temporal billable actions and history events per invoice, from the histories of every
    workflow run on the dev server (lifecycles, the run, every inbox run, statement posts);
    bench/_accounting.py says which events count and why;
  * CPU seconds per process (dev server, this process = bench + worker, mock-sap, mock-bank).

It fails (`FAIL ...`, exit 1) unless every check of payment_cycle.py holds: the run paid N in
ceil(N / --per-file) files, mock-bank holds exactly N accepted and booked payments with N
distinct EndToEndIds, SAP cleared exactly N of this run's items, all N lifecycles COMPLETED,
none in a trouble state, and the inbox still running.

With --days D the N invoices fall due on D consecutive days and are paid by D runs, one a bank
day, each booking day with its own statement (a FINSTA01 post grows with lines x open items, so
one statement of 5,000 lines would measure the mock); stages are then printed per day. All N
start at once unless --arrival daily starts each day's invoices on their day: the ERP then holds
one day's open items when a statement is posted (FINSTA01's cost grows with open items too).

    .venv/bin/python bench/end_to_end.py [-n 1000] [--days D] [--arrival once|daily] [--memory] [--timeout 900]
"""

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from datetime import date
from pathlib import Path

if __name__ == "__main__":  # run as a script from bench/, where the project is not importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _accounting import HttpTimer, sap_request_log, usage, workflow_spans  # bench/ is sys.path[0]
from _cycle import add_cycle_options, cycle, verify
from _history import history_spans, print_spans
from _progress import Figures, Progress
from _stack import Stack, arguments, finish
from adapters.sap_payments import IDOC
from workflows.payment_run import payment_run_workflow_id


def stages(f: Figures, progress: Progress, posts: list[tuple[float, float]]) -> dict[str, float]:
    """Seconds per stage (per booking day with --days); a stage not reached is left out."""
    r, out = progress.reached, {}
    daily = len(f.days) > 1 and f.days[1].arrived
    if "SCHEDULED" in r and not daily:
        out["start -> all SCHEDULED"] = r["SCHEDULED"] - f.t0
    for k, day in enumerate(f.days):
        label = f"day {k + 1} ({day.invoices}): " if len(f.days) > 1 else ""
        if daily and day.scheduled:
            out[f"{label}its invoices started -> all SCHEDULED"] = day.scheduled - day.arrived
        if day.run_end:
            out[f"{label}payment run (start -> end)"] = day.run_end - day.run_start
        if day.accepted and day.run_end:
            out[f"{label}bank answers: run end -> all ACCEPTED"] = day.accepted - day.run_end
        booking = day.advances[:-1]  # the last advance only closes the day, releasing the statement
        if day.settled and booking:
            out[f"{label}bank answers: last booking -> all SETTLED"] = max(0.0, day.settled - booking[-1][1])
        elif day.settled and day.run_end:  # a business day before the cut-off: booked inside the POST
            out[f"{label}bank answers: run end -> all SETTLED"] = day.settled - day.run_end
        if day.advances and day.completed:
            out[f"{label}day close -> all COMPLETED"] = day.completed - day.advances[-1][0]
    if posts:
        out["statement posted (StatementPost runs)"] = sum(end - start for start, end in posts)
    if "COMPLETED" in r:
        out["END TO END (first start -> all COMPLETED)"] = r["COMPLETED"] - f.t0
    return out


async def main(args: argparse.Namespace) -> int:
    prefix = f"E{uuid.uuid4().hex[:5].upper()}"  # + 5 digits: 11 characters, within SAP's 16
    stack = Stack(sqlite=not args.memory, bank=True)
    settings = stack.settings(treasury_db_url=f"sqlite:///{stack.dir / 'treasury.db'}")
    http = HttpTimer()
    http.install()
    failures: list[str] = []
    async with stack.running(settings) as client:
        load = os.getloadavg()
        print(f"end_to_end: n={args.n}, {date.today()} ({date.today():%A}), clocks at {stack.clock}; dev server "
              f"({stack.server_kind}) pid {stack.server_pid}; {os.cpu_count()} CPUs; "
              f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before", flush=True)
        cpu = stack.cpu_meter()
        f = Figures()
        before = cpu.sample()
        progress, failures = await cycle(client, settings, stack.bank_url, cpu, args, prefix, {}, f)
        used = cpu.since(before)
        t1 = progress.reached.get("COMPLETED", time.time())
        sap_log = await sap_request_log(stack.sap_url)
        posts = await workflow_spans(client, "StatementPost")
        wall = t1 - f.t0

        print("\nStages (s)")
        for label, seconds in stages(f, progress, posts).items():
            print(f"  {label:<58}{seconds:8.1f}")
        print(f"  bank clock advances: {len(f.advances)}, {sum(e - s for s, e, _ in f.advances):.1f} s in the "
              f"mock's /_mock/advance (the bench's, not finsync's)")

        finsta = [r for r in sap_log if r["method"] == "POST" and r["path"] == IDOC]
        sap_ms = sum(r.get("duration_ms") or 0 for r in sap_log)
        finsta_s = sum(r.get("duration_ms") or 0 for r in finsta) / 1000
        print(f"\nWhere the wall time goes ({wall:.1f} s from the first start to all COMPLETED)")
        print(f"  mock-sap, its request log: {len(sap_log)} requests, {sap_ms / 1000:.1f} s inside the mock "
              f"({sap_ms / 1000 / wall:.0%}; it serves one request at a time), of which FINSTA01 IDoc posts "
              f"{len(finsta)} in {finsta_s:.1f} s ({finsta_s / wall:.0%})"
              + (": " + ", ".join(f"{(r.get('duration_ms') or 0) / 1000:.1f}" for r in finsta) + " s"
                 if len(finsta) > 1 else ""))
        inside = 0.0
        for name, url in (("mock-sap", stack.sap_url), ("mock-bank", stack.bank_url)):
            count, summed, busy = http.busy(url, f.t0, t1)
            inside += busy
            print(f"  {name}, timed by the worker's HTTP client: {count} requests, {summed:.1f} s summed, "
                  f"{busy:.1f} s with one in flight ({busy / wall:.0%} of wall)")
        print(f"  finsync + Temporal (wall minus the time a counterpart request was in flight, "
              f"minus the bank advances): ~{wall - inside - sum(e - s for s, e, _ in f.advances):.1f} s")

        print(f"\nCPU seconds per process, first start -> end ({wall:.1f} s wall)")
        for name, seconds in used.items():
            print(f"  {name:<16}{seconds:8.1f}  ({seconds / max(1, args.n) * 1000:.0f} ms per invoice)")
        # ru_maxrss is in KiB on Linux: the worker's cache of N lifecycles is most of it.
        print(f"  peak memory of the bench process (worker and its workflow cache): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

        # Where each payment run's time went: its activities, from its history (all days' runs).
        for i, run in enumerate(sorted([wf async for wf in client.list_workflows(
                f'WorkflowId="{payment_run_workflow_id("ACME")}"')], key=lambda w: w.start_time)):
            found, size = await history_spans(client, run.id, run.run_id)
            start = f.days[i].run_start if i < len(f.days) else f.t0
            print_spans(f"PaymentRun {i + 1}, started at {time.strftime('%H:%M:%S', time.localtime(start))} ({size})",
                        found, start)

        counted = await usage(client)
        counted.print(args.n)
        failures += await verify(client, f, stack.bank_url, stack.sap_url, prefix, args.n, args.per_file, progress)
    http.uninstall()
    failures = [x for i, x in enumerate(failures)  # the same trouble once: drop repeats and parts of longer ones
                if x not in failures[:i] and not any(x in other and x != other for other in failures)]
    return finish(failures)


if __name__ == "__main__":
    parser = arguments(__doc__, 1000, "invoices")
    parser.add_argument("--memory", action="store_true", help="dev server in memory (default: SQLite, WAL)")
    add_cycle_options(parser, schedule_timeout=600, timeout=900)
    sys.exit(asyncio.run(main(parser.parse_args())))
