"""How far N lifecycles are, for bench/payment_cycle.py, seen through visibility (one count
per status per poll, summed to "at least this far", never a query per workflow); the cycle's
timestamps (Figures); and the timeline, figures and CPU table printed from them."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_progress.py: a helper of the bench scripts, nothing to measure")
    sys.exit(0)

import asyncio
import time
from dataclasses import dataclass, field

from temporalio.client import Client

from canonical.payment_run import PaymentRunSummary

# The happy path in order; "at least X" = any status from X on.
STAGES = ["SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"]
TROUBLE = ["ON_HOLD", "BANK_REJECTED", "AWAITING_REMEDIATION", "RETURNED", "REOPENED", "CANCELLED"]


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
        """One count per status, summed into "at least" counts here: a visibility count costs
        the dev server in proportion to the rows it matches, and counting `IN (all later
        statuses)` per stage matched up to 7 N rows a poll (17 ms for 2,200 rows on a busy dev server)."""
        self.polls += 1
        counts, at_least = {}, 0
        # Latest status first: a lifecycle that moves on between two counts is missed for one
        # poll, never counted twice, so "all N there" is never claimed early.
        for stage in reversed(STAGES):
            at_least += (await self.client.count_workflows(self.query([stage]))).count
            counts[stage] = at_least
        counts = {stage: counts[stage] for stage in STAGES}
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
            except Exception as e:  # noqa: BLE001 - a slow visibility answer: note it, keep polling
                print(f"  visibility count failed: {e}", flush=True)
            await asyncio.sleep(self.interval)

    async def wait_for(self, stage: str, deadline: float, alive=None, at_least: int | None = None) -> str | None:
        """None once `at_least` (default all N) are at `stage`; else why not (the deadline
        passed, or `alive()`, asked every 5 s, says what died)."""
        checked, wanted = time.time(), self.n if at_least is None else at_least
        while self.counts.get(stage, 0) < wanted and stage not in self.reached:
            if time.time() > deadline:
                return f"{self.counts.get(stage, 0)} of {wanted} lifecycles {stage} by the deadline"
            if alive is not None and time.time() - checked > 5:
                checked = time.time()
                if (dead := await alive()) is not None:
                    return f"{self.counts.get(stage, 0)} of {wanted} lifecycles {stage} when it stopped: {dead}"
            await asyncio.sleep(self.interval / 2)
        return None


# -- the cycle's timestamps, and the timeline and figures printed from them ----------------

@dataclass
class PaymentDay:
    """One bank booking day of the cycle: its payment run, the bank's answers, its statement."""
    invoices: int
    arrived: float = 0.0  # with --arrival daily: its invoices' first start call
    scheduled: float = 0.0  # ... and all of them SCHEDULED
    run_start: float = 0.0
    run_end: float = 0.0
    accepted: float = 0.0  # all of this day's invoices ACCEPTED (or further)
    settled: float = 0.0
    completed: float = 0.0
    advances: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, bank date after)
    summary: PaymentRunSummary | None = None


@dataclass
class Figures:
    t0: float = 0.0  # wall clock before the first start call
    starts_done: float = 0.0
    days: list[PaymentDay] = field(default_factory=list)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    run_stage: str = ""
    inbox_problems: list[dict] | None = None  # what the inbox reported to treasury-ops
    inbox_end: str = ""  # RUNNING when the cycle ended, or how the inbox had ended

    # The whole cycle, read from its days: the first run's start, the last ended run, every advance.
    @property
    def run_start(self) -> float:
        return self.days[0].run_start if self.days else 0.0

    @property
    def run_end(self) -> float:
        return max((d.run_end for d in self.days), default=0.0)

    @property
    def advances(self) -> list[tuple[float, float, str]]:
        return [advance for d in self.days for advance in d.advances]

    def invoices_until(self, k: int) -> int:
        """Invoices due on days 0..k: how many lifecycles must be that far once day k is done."""
        return sum(d.invoices for d in self.days[:k + 1])


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
        line("last clock advance → all COMPLETED:",
             f"{r['COMPLETED'] - last[0]:8.1f} s  (the advance itself {last[1] - last[0]:.2f} s)")
    if "COMPLETED" in r and f.run_start:
        wall = r["COMPLETED"] - f.run_start
        idle = sum(end - start for start, end, _ in f.advances)
        line("SCHEDULED → COMPLETED (run start → all done):", f"{wall:8.1f} s  ({n / wall:.1f} invoices/s; "
             f"{idle:.1f} s of it in the bank's advance calls)")
    print(f"  visibility polls: {progress.polls} (every {progress.interval * 1000:.0f} ms, "
          f"{len(STAGES) + 1} counts each)")

    print(f"\n{'CPU seconds':<34}" + "".join(f"{k:>15}" for k in next(iter(f.cpu.values()), {})))
    for phase, values in f.cpu.items():
        print(f"{phase:<34}" + "".join(f"{v:>15.1f}" for v in values.values()))
