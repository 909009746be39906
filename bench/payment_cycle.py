"""Benchmark: N invoices from SCHEDULED to COMPLETED through one payment run, the bank inbox,
settlement and clearing in the ERP, against a real mock-bank and mock-sap.

Why: the payment side fans out and back in. One PaymentRun reserves N lifecycles, claims N
invoices in the ERP, sends ceil(N / max_payments_per_file) files and signals N lifecycles;
one BankInbox turns each bank message (a pain.002, a camt.054, a camt.053 of N lines) into
N signals and posts the statement to the ERP, after which N lifecycles read their open item.
This script says how long each of those steps takes at N and where the time goes. Not a
test: it prints figures, and fails (`FAIL ...`, exit 1) only when the cycle is wrong or does
not finish within --timeout (the run did not pay N, the bank does not hold exactly N
accepted payments, SAP did not clear exactly N of this run's supplier items, a lifecycle did
not reach COMPLETED).

Everything it needs is its own and stopped at the end, by PID: a Temporal dev server (in
memory, or with --sqlite a WAL/synchronous=off SQLite file, as the embedded stack runs it),
a mock-sap and a mock-bank (`--db :memory:`), both with their clocks at today 09:00, the
real worker (worker.build_worker with a real SapClient, BankClient and a TreasuryStore on a
temp SQLite file) on a uuid task queue, and a fresh codec key.

    .venv/bin/python bench/payment_cycle.py [-n 1000] [--sqlite] [--per-file 500] [--timeout 600]

The cycle:
  1. N InvoiceToPayment lifecycles (suppliers 1000013 and 1000016, whose accounts settle)
     are started at once and reach SCHEDULED.
  2. A BankInbox (poll 1 s, batch 100) is started, then ONE PaymentRun (payment-run-ACME,
     horizon 60 days) runs to its end.
  3. The bank's clock moves one day at a time: first until the bank has booked all N
     payments (a file received on a weekend books on the next business day; on a business
     day before the cut-off it books inside the POST), then, once all N lifecycles say
     SETTLED, one more day, which closes the booking day and releases its camt.053; the inbox
     posts it to the ERP, which clears the items, and the lifecycles see the clearing.
     Each advance waits for the previous stage, so each stage's time is finsync's own.

How progress is seen (so watching does not become the load): one visibility count per
status group every --poll-ms (`TaskQueue=... AND InvoiceStatus IN (...)`, "at least this
far"), never a query per workflow. Where the run's and the inbox's time went comes from
their histories afterwards (activity scheduled -> closed, and the spans of their signals to
the lifecycles).
"""

import argparse
import asyncio
import os
import sys
import uuid
from datetime import date
from pathlib import Path

if __name__ == "__main__":  # run as a script from bench/, where the project is not importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _cycle import add_cycle_options, cycle, verify  # bench/ is sys.path[0]
from _history import history_spans, inbox_spans, print_spans
from _progress import Figures, report
from _stack import Stack, arguments, finish
from workflows.payment_run import payment_run_workflow_id


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:5].upper()
    prefix = f"P{run}"  # + 5 digits: 11 characters, within SAP's 16
    stack = Stack(sqlite=args.sqlite, bank=True)
    settings = stack.settings(
        **({"sap_timeout_seconds": args.sap_timeout} if args.sap_timeout else {}),
        treasury_db_url=f"sqlite:///{stack.dir / 'treasury.db'}",
    )
    overrides = {k: v for k, v in (("max_concurrent_activities", args.max_activities),
                                   ("max_concurrent_workflow_tasks", args.max_workflow_tasks),
                                   ("max_cached_workflows", args.max_cached)) if v is not None}
    failures: list[str] = []
    async with stack.running(settings) as client:
        print(f"dev server ({stack.server_kind}) pid {stack.server_pid}; mock-sap pid {stack.sap.pid}; "
              f"mock-bank pid {stack.bank.pid}; clocks at {stack.clock} ({date.today():%A}); "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
        print(f"n={args.n}, {args.per_file} payments per file, inbox poll {args.inbox_poll:g} s batch {args.batch}, "
              f"visibility poll {args.poll_ms:g} ms, timeout {args.timeout:g} s after SCHEDULED, "
              f"SAP HTTP timeout {settings.sap_timeout_seconds:g} s{'' if args.sap_timeout else ' (the default)'}",
              flush=True)
        f = Figures()
        progress, failures = await cycle(client, settings, stack.bank_url, stack.cpu_meter(), args, prefix, overrides,
                                         f)
        report(f, progress, args.n)
        if f.run_start:
            found, size = await history_spans(client, payment_run_workflow_id("ACME"))
            print_spans(f"PaymentRun history: {size}", found, f.t0)
            found, size, per_run = await inbox_spans(client, f"bank-inbox-{prefix}")
            print_spans(f"BankInbox histories: {len(per_run)} runs (events per run {per_run}), {size}; "
                        f"activities under 0.5 s not listed", found, f.t0, min_seconds=0.5)
        failures += await verify(client, f, stack.bank_url, stack.sap_url, prefix, args.n, args.per_file, progress)
    failures = [x for i, x in enumerate(failures)  # the same trouble once: drop repeats and parts of longer ones
                if x not in failures[:i] and not any(x in other and x != other for other in failures)]
    return finish(failures)


if __name__ == "__main__":
    parser = arguments(__doc__, 1000, "invoices")
    add_cycle_options(parser, schedule_timeout=300, timeout=600)
    parser.add_argument("--sap-timeout", type=float,
                        help="settings.sap_timeout_seconds (default: the settings' default, 30 s)")
    parser.add_argument("--max-activities", type=int, help="worker max_concurrent_activities (default: build_worker's)")
    parser.add_argument("--max-workflow-tasks", type=int,
                        help="worker max_concurrent_workflow_tasks (default: build_worker's)")
    parser.add_argument("--max-cached", type=int, help="worker max_cached_workflows (default: build_worker's)")
    sys.exit(asyncio.run(main(parser.parse_args())))
