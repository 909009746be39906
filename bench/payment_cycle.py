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
import base64
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

if __name__ == "__main__":  # run as a script from bench/, where the project is not importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from adapters.bank import BankClient
from adapters.sap import SapClient
from adapters.treasury_store import TreasuryStore
from canonical.inbox import BankInboxConfig
from canonical.payment_run import PaymentRunRequest, PaymentRunSummary
from cli.processes import BIN, free_port, mock_bank, mock_sap
from codec.bank_details import data_converter, load_codec
from lifecycle_throughput import CpuMeter, dev_server_pid, make_invoice  # bench/ is sys.path[0]
from settings import Settings
from worker import build_worker
from workflows import search_attributes as sa
from workflows.bank_inbox import BankInbox
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id

SUPPLIERS = ["1000013", "1000016"]  # GLOBEX (held by the bank) and an external IBAN: both settle
SI_PATH = "/sap/opu/odata/sap/API_SUPPLIERINVOICE_PROCESS_SRV/A_SupplierInvoice"
ITEMS_PATH = "/sap/opu/odata/sap/API_OPLACCTGDOCITEMCUBE_SRV/A_OperationalAcctgDocItemCube"
# The happy path in order; "at least X" = any status from X on.
STAGES = ["SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"]
TROUBLE = ["ON_HOLD", "BANK_REJECTED", "AWAITING_REMEDIATION", "RETURNED", "REOPENED", "CANCELLED"]


# -- watching progress through visibility --------------------------------------------------

@dataclass
class Progress:
    """Counts per stage ("at least this far"), from one count RPC per stage per poll."""
    client: Client
    task_queue: str
    n: int
    interval: float
    t0: float
    counts: dict[str, int] = field(default_factory=dict)
    trouble: int = 0
    reached: dict[str, float] = field(default_factory=dict)  # stage -> wall clock when all N got there
    first: dict[str, float] = field(default_factory=dict)  # stage -> wall clock of the first one there
    polls: int = 0
    changed_at: float = 0.0
    log_every: float = 15.0
    _logged: float = 0.0

    def query(self, statuses: list[str]) -> str:
        listed = ", ".join(f'"{s}"' for s in statuses)
        return f'TaskQueue="{self.task_queue}" AND InvoiceStatus IN ({listed})'

    async def poll_once(self) -> None:
        self.polls += 1
        counts = {}
        for i, stage in enumerate(STAGES):
            counts[stage] = (await self.client.count_workflows(self.query(STAGES[i:]))).count
        trouble = (await self.client.count_workflows(self.query(TROUBLE))).count
        now = time.time()
        if counts != self.counts or trouble != self.trouble:
            self.changed_at = now
        self.counts, self.trouble = counts, trouble
        for stage, count in counts.items():
            if count and stage not in self.first:
                self.first[stage] = now
            if count >= self.n and stage not in self.reached:
                self.reached[stage] = now
        if now - self._logged >= self.log_every:
            self._logged = now
            print(f"  [{now - self.t0:7.1f} s] " + " ".join(f"{s}≥{c}" for s, c in counts.items())
                  + (f" trouble={trouble}" if trouble else ""), flush=True)

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception as e:  # a slow visibility answer: note it, keep polling
                print(f"  visibility count failed: {e}", flush=True)
            await asyncio.sleep(self.interval)

    async def wait_for(self, stage: str, deadline: float, alive=None) -> str | None:
        """None once all N are at `stage`; else why not (the deadline passed, or `alive()`,
        asked every 5 s, says what died)."""
        checked = time.time()
        while stage not in self.reached:
            if time.time() > deadline:
                return f"{self.counts.get(stage, 0)} of {self.n} lifecycles {stage} by the deadline"
            if alive is not None and time.time() - checked > 5:
                checked = time.time()
                if (dead := await alive()) is not None:
                    return f"{self.counts.get(stage, 0)} of {self.n} lifecycles {stage} when it stopped: {dead}"
            await asyncio.sleep(self.interval / 2)
        return None


# -- the counterparts ----------------------------------------------------------------------

async def bank_state(bank_url: str) -> dict:
    async with httpx.AsyncClient(base_url=bank_url, timeout=60) as http:
        return (await http.get("/_mock/state")).raise_for_status().json()


async def bank_advance(bank_url: str) -> dict:
    async with httpx.AsyncClient(base_url=bank_url, timeout=180) as http:
        return (await http.post("/_mock/advance", params={"days": 1})).raise_for_status().json()


async def bank_payments(bank_url: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=bank_url, timeout=60) as http:
        body = (await http.get("/_mock/payments", params={"limit": 1_000_000})).raise_for_status().json()
    return body if isinstance(body, list) else body.get("payments", body.get("results", []))


def sap_http(sap_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=sap_url, headers={"sap-client": "100", "Accept": "application/json"}, timeout=60)


async def sap_our_documents(sap_url: str, prefix: str) -> dict[str, str]:
    """Accounting document -> reference, for this run's invoices."""
    async with sap_http(sap_url) as http:
        r = await http.get(SI_PATH, params={
            "$filter": f"startswith(SupplierInvoiceIDByInvcgParty,'{prefix}')",
            "$select": "SupplierInvoiceIDByInvcgParty,AccountingDocument", "$top": "100000", "$format": "json"})
    r.raise_for_status()
    return {row["AccountingDocument"]: row["SupplierInvoiceIDByInvcgParty"] for row in r.json()["d"]["results"]}


async def sap_cleared_items(sap_url: str) -> list[dict]:
    """Supplier items cleared by another document (a payment), all of them."""
    async with sap_http(sap_url) as http:
        r = await http.get(ITEMS_PATH, params={
            "$filter": "ClearingAccountingDocument ne '' and AccountingDocumentItemType eq 'K' "
                       "and AccountingDocument ne ClearingAccountingDocument",
            "$select": "AccountingDocument,ClearingAccountingDocument,ClearingDate,PaymentRunID",
            "$inlinecount": "allpages", "$top": "100000", "$format": "json"})
    r.raise_for_status()
    return r.json()["d"]["results"]


# -- where the time went: histories --------------------------------------------------------

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


def spans(events) -> tuple[list[Span], HistorySize]:
    """Activities (scheduled -> closed) and runs of consecutive signals to other workflows
    (first initiated -> last acknowledged), in history order; and the history's size."""
    ts = lambda e: e.event_time.seconds + e.event_time.nanos / 1e9  # noqa: E731
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


# -- the cycle -----------------------------------------------------------------------------

@dataclass
class Figures:
    t0: float = 0.0  # wall clock before the first start call
    starts_done: float = 0.0
    run_start: float = 0.0
    run_end: float = 0.0
    advances: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, bank date after)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    summary: PaymentRunSummary | None = None
    run_stage: str = ""
    inbox_problems: list[dict] | None = None  # what the inbox reported to treasury-ops
    inbox_end: str = ""  # RUNNING when the cycle ended, or how the inbox had ended


async def cycle(client: Client, settings: Settings, bank_url: str, cpu: CpuMeter, args, prefix: str,
                worker_overrides: dict, f: Figures) -> tuple[Progress, list[str]]:
    failures: list[str] = []
    store = TreasuryStore(settings.treasury_db_url)
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank:
        worker = build_worker(client, settings, sap, store, bank, **worker_overrides)
        config = worker.config()
        print(f"worker: max_concurrent_activities={config.get('max_concurrent_activities')}, "
              f"max_concurrent_workflow_tasks={config.get('max_concurrent_workflow_tasks')}, "
              f"max_cached_workflows={config.get('max_cached_workflows')}"
              + (f" (overridden: {worker_overrides})" if worker_overrides else " (build_worker's defaults)"), flush=True)
        async with worker:
            f.t0 = time.time()
            progress = Progress(client, settings.task_queue, args.n, args.poll_ms / 1000, f.t0)
            watcher = asyncio.create_task(progress.run())
            try:
                failures = await _drive(client, settings, bank_url, cpu, args, prefix, progress, f)
            finally:
                watcher.cancel()
                try:
                    await progress.poll_once()  # the last word, after the watcher stopped
                except Exception:
                    pass
    return progress, failures


async def _drive(client: Client, settings: Settings, bank_url: str, cpu: CpuMeter, args, prefix: str,
                 progress: Progress, f: Figures) -> list[str]:
    tq, n = settings.task_queue, args.n
    # 1. N lifecycles to SCHEDULED, all started at once.
    invoices = [make_invoice(f"{prefix}{i:05d}", SUPPLIERS[i % len(SUPPLIERS)]) for i in range(n)]
    before = cpu.sample()
    await asyncio.gather(*(client.start_workflow(
        InvoiceToPayment.run, inv, id=inv.workflow_id, task_queue=tq,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    ) for inv in invoices))
    f.starts_done = time.time()
    if problem := await progress.wait_for("SCHEDULED", f.t0 + args.schedule_timeout):
        return [f"{problem} ({args.schedule_timeout:g} s)"]
    f.cpu["to SCHEDULED"] = _delta(before, cpu.sample())

    # 2. The inbox, then one payment run.
    deadline = time.time() + args.timeout
    before = cpu.sample()
    inbox = await client.start_workflow(BankInbox.run, BankInboxConfig(poll_seconds=args.inbox_poll, batch_size=args.batch),
                                        id=f"bank-inbox-{prefix}", task_queue=tq)
    alive = lambda: inbox_dead(client, inbox.id)  # noqa: E731
    try:
        return await _pay_and_settle(client, bank_url, cpu, args, progress, f, deadline, before, alive)
    finally:
        f.inbox_end = await inbox_dead(client, inbox.id) or "RUNNING"
        if f.inbox_end == "RUNNING":
            try:
                f.inbox_problems = (await inbox.query(BankInbox.status)).get("problems", [])
                await inbox.terminate("benchmark done")
            except RPCError as e:
                print(f"  inbox status query or terminate failed: {e}")


async def _pay_and_settle(client: Client, bank_url: str, cpu: CpuMeter, args, progress: Progress, f: Figures,
                          deadline: float, before: dict[str, float], alive) -> list[str]:
    n = args.n
    request = PaymentRunRequest(paying_account_id="ACME", horizon_days=60, max_payments_per_file=args.per_file,
                                requested_by="bench")
    f.run_start = time.time()
    run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"), task_queue=progress.task_queue)
    try:
        f.summary = await asyncio.wait_for(run.result(), timeout=max(1.0, deadline - time.time()))
    except asyncio.TimeoutError:
        f.run_stage = (await run.query(PaymentRun.status)).get("stage", "?")
        return [f"the payment run did not end within {args.timeout:g} s (stage: {f.run_stage})"]
    except WorkflowFailureError as e:
        return [f"the payment run failed: {e.cause}"]
    f.run_end = time.time()
    f.cpu["payment run"] = _delta(before, cpu.sample())
    failures = []
    if f.summary.paid_invoices != n:
        failures.append(f"the payment run paid {f.summary.paid_invoices} of {n} (refused: {dict(list(f.summary.refused.items())[:5])})")

    # 3. The bank's answers, then its clock, a day at a time.
    before = cpu.sample()
    try:
        if problem := await progress.wait_for("ACCEPTED", deadline, alive):
            return failures + [problem]
        state = await bank_state(bank_url)
        for _ in range(args.max_days):  # until the bank has booked every payment
            if state["payments"]["booked"] >= state["payments"]["accepted"]:
                break
            await _advance(bank_url, f)
            state = await bank_state(bank_url)
        if problem := await progress.wait_for("SETTLED", deadline, alive):
            return failures + [f"{problem} (bank booked {state['payments']['booked']}, accepted {state['payments']['accepted']})"]
        await _advance(bank_url, f)  # closes the booking day: its camt.053 is released
        if problem := await progress.wait_for("COMPLETED", deadline, alive):
            return failures + [problem]
    finally:
        f.cpu["bank answers, advances, clearing"] = _delta(before, cpu.sample())
    return failures


async def inbox_dead(client: Client, workflow_id: str) -> str | None:
    """None while the inbox (its latest run) runs; else its end and why."""
    handle = client.get_workflow_handle(workflow_id)
    described = await handle.describe()
    if described.status == WorkflowExecutionStatus.RUNNING:
        return None
    why = ""
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            failure = event.workflow_execution_failed_event_attributes.failure
            why = failure.message
            while failure.HasField("cause"):
                failure = failure.cause
                why += f" <- {failure.message}"
    return f"the BankInbox workflow is {described.status.name}" + (f": {why}" if why else "")


async def _advance(bank_url: str, f: Figures) -> None:
    start = time.time()
    answer = await bank_advance(bank_url)
    state = await bank_state(bank_url)
    f.advances.append((start, time.time(), state["clock"]["date"]))
    print(f"  [{start - f.t0:7.1f} s] bank clock advanced one day to {state['clock']['date']} in {time.time() - start:.2f} s "
          f"(business days crossed: {answer.get('businessDaysCrossed', '?')}; booked {state['payments']['booked']})", flush=True)


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before[k] for k, v in after.items()}


# -- report --------------------------------------------------------------------------------

def print_spans(title: str, found: list[Span], t0: float, min_seconds: float = 0.0) -> None:
    print(f"\n{title}")
    print(f"  {'at s':>8} {'took s':>8}  what")
    hidden, hidden_s = 0, 0.0
    for s in found:
        if s.seconds < min_seconds and not s.what.startswith("signal"):
            hidden, hidden_s = hidden + 1, hidden_s + s.seconds
            continue
        extra = f" x{s.count}" if s.what.startswith("signal") else (f" (attempt {s.attempts})" if s.attempts > 1 else "")
        rate = f", {s.count / s.seconds:.0f}/s" if s.what.startswith("signal") and s.seconds > 0 else ""
        print(f"  {s.start - t0:8.1f} {s.seconds:8.2f}  {s.what}{extra}{rate}")
    if hidden:
        print(f"  ({hidden} shorter activities, {hidden_s:.1f} s together, not listed)")


def report(f: Figures, progress: Progress, n: int) -> None:
    r = progress.reached
    rel = lambda t: t - f.t0  # noqa: E731
    print("\nTimeline (s from the first start call; 'all' = all N there, seen through visibility)")
    rows = [(f.starts_done, f"{n} starts answered"), (r.get("SCHEDULED"), f"all {n} SCHEDULED"),
            (f.run_start, "PaymentRun started"), (r.get("IN_PAYMENT_RUN"), "all IN_PAYMENT_RUN"),
            (r.get("SENT_TO_BANK"), "all SENT_TO_BANK"), (f.run_end or None, "PaymentRun ended"),
            (r.get("ACCEPTED"), "all ACCEPTED"), (r.get("SETTLED"), "all SETTLED"),
            (r.get("CLEARED"), "all CLEARED"), (r.get("COMPLETED"), "all COMPLETED")]
    rows += [(start, f"bank clock +1 day → {day} ({end - start:.2f} s)") for start, end, day in f.advances]
    for t, what in sorted((row for row in rows if row[0]), key=lambda row: row[0]):
        print(f"  {rel(t):8.1f}  {what}")

    print("\nFigures")
    line = lambda label, text: print(f"  {label:<46}{text}")  # noqa: E731
    sched = r.get("SCHEDULED")
    if sched:
        line(f"to SCHEDULED ({n} started at once):", f"{sched - f.t0:8.1f} s  ({n / (sched - f.t0):.1f} invoices/s)")
    if f.run_end:
        line("PaymentRun wall time:", f"{f.run_end - f.run_start:8.1f} s")
    first_advance = f.advances[0][0] if f.advances else None
    for stage in ("SETTLED", "COMPLETED"):
        if stage in r and first_advance:
            if r[stage] < first_advance:
                line(f"first clock advance → all {stage}:", "before the first advance (booked inside the POST)")
            else:
                line(f"first clock advance → all {stage}:", f"{r[stage] - first_advance:8.1f} s")
    if "COMPLETED" in r and f.advances:
        last = f.advances[-1]
        line("last clock advance → all COMPLETED:", f"{r['COMPLETED'] - last[0]:8.1f} s  (the advance itself {last[1] - last[0]:.2f} s)")
    if "COMPLETED" in r and f.run_start:
        wall = r["COMPLETED"] - f.run_start
        idle = sum(end - start for start, end, _ in f.advances)
        line("SCHEDULED → COMPLETED (run start → all done):", f"{wall:8.1f} s  ({n / wall:.1f} invoices/s; "
             f"{idle:.1f} s of it in the bank's advance calls)")
    print(f"  visibility polls: {progress.polls} (every {progress.interval * 1000:.0f} ms, {len(STAGES) + 1} counts each)")

    print(f"\n{'CPU seconds':<34}" + "".join(f"{k:>15}" for k in next(iter(f.cpu.values()), {})))
    for phase, values in f.cpu.items():
        print(f"{phase:<34}" + "".join(f"{v:>15.1f}" for v in values.values()))


async def verify(client: Client, f: Figures, bank_url: str, sap_url: str, prefix: str, n: int, per_file: int,
                 progress: Progress) -> list[str]:
    failures = []
    print("\nChecks")
    if f.summary:
        files = -(-n // per_file)
        print(f"  run summary: paid {f.summary.paid_invoices}, total {f.summary.total} {f.summary.currency}, "
              f"files {f.summary.message_ids}, refused {len(f.summary.refused)}, file rejected {f.summary.file_rejected}")
        if len(f.summary.message_ids) != files:
            failures.append(f"the run sent {len(f.summary.message_ids)} files, expected {files}")
    state = await bank_state(bank_url)
    pay = state["payments"]
    rows = await bank_payments(bank_url)
    e2e = {row.get("end_to_end_id") or row.get("endToEndId") for row in rows}
    print(f"  mock-bank /_mock/state: files {pay['files']}, accepted {pay['accepted']}, booked {pay['booked']}, "
          f"rejected {pay['rejected']}, returned {pay['returned']}; /_mock/payments: {len(rows)} rows, "
          f"{len(e2e - {None})} distinct EndToEndIds")
    if pay["accepted"] != n or pay["booked"] != n or pay["rejected"] or pay["returned"]:
        failures.append(f"mock-bank accepted {pay['accepted']} and booked {pay['booked']} payments "
                        f"(rejected {pay['rejected']}, returned {pay['returned']}), expected exactly {n}")
    if rows and len(e2e - {None}) != n:
        failures.append(f"mock-bank lists {len(e2e - {None})} distinct EndToEndIds, expected {n}")
    ours = await sap_our_documents(sap_url, prefix)
    cleared = await sap_cleared_items(sap_url)
    cleared_ours = {row["AccountingDocument"] for row in cleared if row["AccountingDocument"] in ours}
    print(f"  SAP: {len(ours)} invoices of this run; supplier items cleared by a payment: {len(cleared)} in all, "
          f"{len(cleared_ours)} of this run's; still claimed by a run: "
          f"{sum(1 for row in cleared if row['AccountingDocument'] in ours and row.get('PaymentRunID'))}")
    if len(ours) != n or len(cleared_ours) != n:
        failures.append(f"SAP cleared {len(cleared_ours)} of this run's {len(ours)} invoices, expected {n}")
    print(f"  lifecycles: " + " ".join(f"{s}≥{c}" for s, c in progress.counts.items())
          + f"; in trouble states ({', '.join(TROUBLE)}): {progress.trouble}")
    if progress.trouble:
        failures.append(f"{progress.trouble} lifecycles in {'/'.join(TROUBLE)}")
    print(f"  bank inbox at the end: {f.inbox_end or 'never started'}")
    if f.inbox_end and f.inbox_end != "RUNNING":
        failures.append(f.inbox_end)  # main() drops it if the cycle already failed on it
    if f.inbox_problems is not None:
        print(f"  bank inbox problems for treasury-ops: {len(f.inbox_problems)}"
              + "".join(f"\n    {p['bank_message_id']}: {p['problem'][:300]}" for p in f.inbox_problems[:5]))
    return failures


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:5].upper()
    prefix = f"P{run}"  # + 5 digits: 11 characters, within SAP's 16
    sap_port, bank_port, temporal_port = free_port(), free_port(), free_port()
    sap_url, bank_url = f"http://127.0.0.1:{sap_port}", f"http://127.0.0.1:{bank_port}"
    tmp = tempfile.TemporaryDirectory(prefix="finsync-bench-")
    settings = Settings(
        codec_key=base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),  # nothing else reads these histories
        task_queue=f"bench-{uuid.uuid4()}",
        sap_url=sap_url,
        bank_url=bank_url,
        **({"sap_timeout_seconds": args.sap_timeout} if args.sap_timeout else {}),
        treasury_db_url=f"sqlite:///{Path(tmp.name) / 'treasury.db'}",
    )
    overrides = {k: v for k, v in (("max_concurrent_activities", args.max_activities),
                                   ("max_concurrent_workflow_tasks", args.max_workflow_tasks),
                                   ("max_cached_workflows", args.max_cached)) if v is not None}
    server_args: dict = {}
    if args.sqlite:
        server_args = dict(
            dev_server_database_filename=str(Path(tmp.name) / "temporal.db"),
            dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"],
        )
    clock = f"{date.today()}T09:00"
    sap_proc = mock_sap(sap_port, clock=clock, log=Path(tmp.name) / "mock-sap.log")
    bank_proc = mock_bank(bank_port, clock=clock, log=Path(tmp.name) / "mock-bank.log")  # --db :memory:
    env: WorkflowEnvironment | None = None
    failures: list[str] = []
    try:
        sap_proc.start()
        bank_proc.start()
        sap_proc.wait_http(f"{sap_url}/_mock/health")
        bank_proc.wait_http(f"{bank_url}/_mock/health")
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(BIN / "temporal"),
            data_converter=data_converter(load_codec(settings)),
            search_attributes=sa.ALL,
            port=temporal_port,
            dev_server_log_level="error",
            **server_args,
        )
        server_pid = dev_server_pid(temporal_port)
        print(f"dev server ({'SQLite file, WAL, synchronous=off' if args.sqlite else 'in memory'}) pid {server_pid}; "
              f"mock-sap pid {sap_proc.pid}; mock-bank pid {bank_proc.pid}; clocks at {clock} ({date.today():%A}); "
              f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
        print(f"n={args.n}, {args.per_file} payments per file, inbox poll {args.inbox_poll:g} s batch {args.batch}, "
              f"visibility poll {args.poll_ms:g} ms, timeout {args.timeout:g} s after SCHEDULED, "
              f"SAP HTTP timeout {settings.sap_timeout_seconds:g} s{'' if args.sap_timeout else ' (the default)'}", flush=True)
        cpu = CpuMeter({"dev server": server_pid or -1, "mock-sap": sap_proc.pid, "mock-bank": bank_proc.pid})
        f = Figures()
        progress, failures = await cycle(env.client, settings, bank_url, cpu, args, prefix, overrides, f)
        report(f, progress, args.n)
        if f.run_start:
            found, size = await history_spans(env.client, payment_run_workflow_id("ACME"))
            print_spans(f"PaymentRun history: {size}", found, f.t0)
            found, size, per_run = await inbox_spans(env.client, f"bank-inbox-{prefix}")
            print_spans(f"BankInbox histories: {len(per_run)} runs (events per run {per_run}), {size}; "
                        f"activities under 0.5 s not listed", found, f.t0, min_seconds=0.5)
        failures += await verify(env.client, f, bank_url, sap_url, prefix, args.n, args.per_file, progress)
    finally:
        if env is not None:
            await env.shutdown()
        bank_proc.stop()  # by PID
        sap_proc.stop()
        tmp.cleanup()
    print(f"load average {os.getloadavg()[0]:.2f} after")
    failures = [x for i, x in enumerate(failures)  # the same trouble once: drop repeats and parts of longer ones
                if x not in failures[:i] and not any(x in other and x != other for other in failures)]
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=1000, help="invoices (default 1000)")
    parser.add_argument("--sqlite", action="store_true", help="dev server on a SQLite file (WAL, synchronous=off)")
    parser.add_argument("--per-file", type=int, default=500, help="max_payments_per_file of the run (default 500)")
    parser.add_argument("--inbox-poll", type=float, default=1.0, help="BankInbox poll_seconds (default 1)")
    parser.add_argument("--batch", type=int, default=100, help="BankInbox batch_size (default 100)")
    parser.add_argument("--poll-ms", type=float, default=500, help="visibility count interval (default 500)")
    parser.add_argument("--schedule-timeout", type=float, default=300, help="seconds for N to reach SCHEDULED (default 300)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds from SCHEDULED to all COMPLETED (default 600)")
    parser.add_argument("--max-days", type=int, default=5, help="bank days to advance at most before settlement (default 5)")
    parser.add_argument("--sap-timeout", type=float, help="settings.sap_timeout_seconds (default: the settings' default, 30 s)")
    parser.add_argument("--max-activities", type=int, help="worker max_concurrent_activities (default: build_worker's)")
    parser.add_argument("--max-workflow-tasks", type=int, help="worker max_concurrent_workflow_tasks (default: build_worker's)")
    parser.add_argument("--max-cached", type=int, help="worker max_cached_workflows (default: build_worker's)")
    sys.exit(asyncio.run(main(parser.parse_args())))
