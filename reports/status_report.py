"""The status report in one command (`python -m cli report`): lifecycles by state with the
oldest in each, open exceptions by owner and SLA state, cycle time p50/p95 of completed
lifecycles, and today's cash position by company code and currency.

Everything about lifecycles comes from visibility (search attributes, start and close
times), a page at a time, and the open cases by owner and SLA state are visibility counts
(reports/sla_buckets.py), so the report wakes no lifecycle; only one whose case opened before
it wrote the case's SLA into its search attributes is asked for it."""

import argparse
import asyncio
import math
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus

from adapters.treasury_store import TreasuryStore
from canonical.treasury import CashPosition
from reports import duration, format_table, latest_reconciliation, load_reconciliation, render_reconciliation
from reports.sla_buckets import BUCKETS, SlaLine, sla_lines
from reports.status_table import PAGE_SIZE, lifecycle_query, pages
from workflows import search_attributes as sa

_NORMAL_END = {WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED}


class StateLine(BaseModel):
    state: str
    count: int
    oldest_invoice: str
    oldest_started: datetime


class CashLine(BaseModel):
    company_code: str
    currency: str
    actual_today: Decimal = Decimal(0)
    expected_today: Decimal = Decimal(0)
    expected_overdue: Decimal = Decimal(0)  # still expected, value date already passed
    expected_later: Decimal = Decimal(0)


class StatusReport(BaseModel):
    generated_at: datetime
    today: date
    states: list[StateLine]
    open_cases: list[SlaLine]  # by owner
    cycle_times: list[timedelta]  # close - start of every COMPLETED lifecycle
    cash: list[CashLine]
    cash_error: str | None = None  # the treasury store could not be read: the rest still reports


class UnreadableStore:
    """Stands in for a treasury store that could not be opened (no database where the settings
    point): the report says why under the cash position instead of not printing at all."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def cash_positions(self, company_code: str | None = None) -> list[CashPosition]:
        raise self.error


def open_store(settings) -> TreasuryStore | UnreadableStore:
    try:
        return TreasuryStore.from_settings(settings)
    except Exception as err:  # noqa: BLE001 - reported with the cash position
        return UnreadableStore(err)


def percentile(values: list[timedelta], p: float) -> timedelta | None:
    """Nearest rank: an observed cycle time, never an interpolation between two invoices."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def cash_lines(positions: list[CashPosition], today: date) -> list[CashLine]:
    lines: dict[tuple[str, str], CashLine] = {}
    for p in positions:
        line = lines.setdefault((p.company_code, p.currency),
                                CashLine(company_code=p.company_code, currency=p.currency))
        if p.value_date == today:
            line.actual_today += p.actual_outflow
            line.expected_today += p.expected_outflow
        elif p.value_date < today:
            line.expected_overdue += p.expected_outflow
        else:
            line.expected_later += p.expected_outflow
    return [lines[k] for k in sorted(lines)]


def _state(ex) -> str:
    # A lifecycle that was terminated or failed still shows its last business state, marked.
    state = ex.typed_search_attributes.get(sa.INVOICE_STATUS) or "?"
    if ex.status in _NORMAL_END:
        return state
    return f"{state} ({ex.status.name.lower() if ex.status else 'no status'})"


async def collect(client: Client, store: TreasuryStore | UnreadableStore, now: datetime | None = None,
                  today: date | None = None, extra_query: str = "", page_size: int = PAGE_SIZE,
                  company_code: str | None = None) -> StatusReport:
    """`extra_query` narrows the lifecycles and cases (e.g. `CompanyCode='1710'`); `company_code`
    narrows them and the cash position to one legal entity (default: every company). Ages and
    SLA states run in UTC at `now`; "today" for cash is the local business date, as value
    dates are. Lifecycles are read a visibility page at a time and never queried; open cases
    are counted by owner and SLA state (sla_buckets), and the cash position is one store query."""
    now, today = now or datetime.now(UTC), today or date.today()
    if company_code:
        if not company_code.isalnum():  # it goes into the visibility query
            raise ValueError(f"{company_code!r} is no company code (letters and digits)")
        extra_query = f'CompanyCode="{company_code}"' + (f" AND ({extra_query})" if extra_query else "")
    counts: Counter[str] = Counter()
    oldest: dict[str, tuple[datetime, str]] = {}
    cycles: list[timedelta] = []
    async for page in pages(client, lifecycle_query(extra_query), page_size):
        for ex in page:
            _count(ex, counts, oldest, cycles)
    states = [StateLine(state=s, count=n, oldest_invoice=oldest[s][1], oldest_started=oldest[s][0])
              for s, n in sorted(counts.items())]
    open_cases = await sla_lines(client, now, extra_query)
    cash, cash_error = [], None
    try:
        cash = cash_lines(await asyncio.to_thread(store.cash_positions, company_code or None), today)
    except Exception as err:  # noqa: BLE001 - e.g. no treasury database here: the lifecycles still report
        cash_error = f"{type(err).__name__}: {err}".splitlines()[0]
    return StatusReport(generated_at=now, today=today, states=states, open_cases=open_cases, cycle_times=cycles,
                        cash=cash, cash_error=cash_error)


def _count(ex, counts: Counter[str], oldest: dict[str, tuple[datetime, str]], cycles: list[timedelta]) -> None:
    # One lifecycle into the counts, the oldest per state and the cycle times.
    state = _state(ex)
    counts[state] += 1
    key = ex.typed_search_attributes.get(sa.INVOICE_ID) or ex.id
    if state not in oldest or ex.start_time < oldest[state][0]:
        oldest[state] = (ex.start_time, key)
    if ex.status == WorkflowExecutionStatus.COMPLETED and state == "COMPLETED" and ex.close_time:
        cycles.append(ex.close_time - ex.start_time)


def render(report: StatusReport) -> str:
    now = report.generated_at
    out = [f"finsync status at {now:%Y-%m-%d %H:%M} UTC", "", "Invoices by state"]
    out.append(format_table(("STATE", "COUNT", "OLDEST INVOICE", "AGE"), [
        (s.state, str(s.count), s.oldest_invoice, duration(now - s.oldest_started)) for s in report.states])
        if report.states else "  no invoice lifecycles")

    out += ["", "Open exceptions by owner and SLA state"]
    out.append(format_table(("OWNER", "OPEN", "WITHIN SLA", "OVERDUE", "ESCALATED", "NO SLA"), [
        (line.owner, str(line.open), *(str(getattr(line, b)) for b in BUCKETS)) for line in report.open_cases])
        if report.open_cases else "  none")

    p50, p95 = percentile(report.cycle_times, 50), percentile(report.cycle_times, 95)
    out += ["", f"Cycle time (received to completed) over {len(report.cycle_times)} completed: "
                + (f"p50 {duration(p50)}, p95 {duration(p95)}" if p50 is not None and p95 is not None
                   else "none completed yet")]

    out += ["", f"Cash position {report.today} (outflows)"]
    if report.cash_error:
        out.append(f"  not available: {report.cash_error}")
        return "\n".join(out)
    out.append(format_table(("COMPANY", "CURRENCY", "PAID TODAY", "EXPECTED TODAY", "OVERDUE", "EXPECTED LATER"), [
        (c.company_code, c.currency, str(c.actual_today), str(c.expected_today), str(c.expected_overdue),
         str(c.expected_later))
        for c in report.cash]) if report.cash else "  no outflows")
    return "\n".join(out)


async def report_text(client: Client, store: TreasuryStore | UnreadableStore, extra_query: str = "",
                      company_code: str | None = None) -> str:
    """For `make up`'s closing print: the same text as the command."""
    return render(await collect(client, store, extra_query=extra_query, company_code=company_code))


async def _print(extra_query: str, company_code: str | None = None) -> int:
    from settings import get_settings
    from worker import connect  # applies the payload codec; imported late, it loads every workflow

    settings = get_settings()
    client = await connect(settings)
    print(await report_text(client, open_store(settings), extra_query, company_code))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli report", description="finsync status report")
    parser.add_argument("--query", default="", help="narrow the lifecycles, e.g. \"InvoiceStatus='ON_HOLD'\"")
    parser.add_argument("--company", help="one company code: its lifecycles, cases and cash position")
    parser.add_argument("--reconciliation", nargs="?", const="", metavar="REPORT.json",
                        help="print a reconciliation report instead "
                             "(default: the newest in the stack's .finsync/reports)")
    args = parser.parse_args(argv)
    if args.reconciliation is not None:
        from cli.state import reports_dir

        path = Path(args.reconciliation) if args.reconciliation else latest_reconciliation(reports_dir())
        if path is None or not path.exists():
            print(f"no reconciliation report found ({path or f'none in {reports_dir()}'})", file=sys.stderr)
            return 1
        print(render_reconciliation(load_reconciliation(path)))
        return 0
    return asyncio.run(_print(args.query, args.company))


if __name__ == "__main__":
    from cli.process_exit import run_main

    run_main(main)  # skips finalisation: see cli/process_exit.py
