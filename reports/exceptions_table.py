"""Open exception cases as a table with age and SLA state: `python -m cli exceptions [--owner X]`.

Found through the ExceptionOwner search attribute (what `temporal workflow list --query
'ExceptionOwner="treasury-ops"'` shows), a visibility page at a time. A lifecycle's case
comes from its search attributes (owner, type, severity, opened, due, escalated), so no
lifecycle is asked anything; only a lifecycle whose case opened before it wrote its SLA there
is asked for it with the `status` query, and the bank inbox for its problems. `--reasons`
asks every lifecycle in the table for its case's reason (one query each)."""

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus

from canonical.reconciliation import ReconciliationReport
from canonical.status import InvoiceLifecycleStatus
from reports import duration, format_table
from reports.status_table import PAGE_SIZE, pages
from workflows import search_attributes as sa

LIFECYCLE, INBOX, RECONCILIATION = "InvoiceToPayment", "BankInbox", "Reconciliation"
# The reconciliation runs daily: its drifts are due before the next run reports them again.
RECONCILIATION_SLA = timedelta(hours=24)
RECONCILIATION_OWNER = "treasury-ops"  # who runs it and owns what it finds (canonical.reconciliation.OWNERS)
_QUERY_TIMEOUT = timedelta(seconds=5)
_QUERIES_AT_ONCE = 16  # lifecycles without the SLA attributes, the inbox, or all with --reasons
RUNNING_CASES = f"{sa.EXCEPTION_OWNER.name} IS NOT NULL AND ExecutionStatus='Running'"


class ExceptionRow(BaseModel):
    workflow_id: str
    subject: str  # the invoice key, or what the workflow is about
    type: str
    owner: str
    severity: str = "medium"
    reason: str = ""
    opened_at: datetime
    sla_due_at: datetime | None = None
    escalated: bool = False

    def sla_state(self, now: datetime) -> str:
        if self.sla_due_at is None:
            state = "no SLA"
        elif now > self.sla_due_at:
            state = f"overdue by {duration(now - self.sla_due_at)}"
        else:
            state = f"within SLA ({duration(self.sla_due_at - now)} left)"
        # An escalated case got a new due date; say both, the escalation first.
        return f"escalated, {state}" if self.escalated else state

    def sla_bucket(self, now: datetime) -> str:
        """within / overdue / escalated / none: for counting."""
        if self.escalated:
            return "escalated"
        if self.sla_due_at is None:
            return "none"
        return "overdue" if now > self.sla_due_at else "within"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "") + "'"


def case_query(owner: str | None = None, extra_query: str = "") -> str:
    """Running workflows with an open case (for one owner); `extra_query` narrows them."""
    query = RUNNING_CASES + (f" AND {sa.EXCEPTION_OWNER.name}={_quoted(owner)}" if owner else "")
    return query + (f" AND ({extra_query})" if extra_query else "")


async def open_exceptions(client: Client, owner: str | None = None, extra_query: str = "",
                          reasons: bool = False) -> list[ExceptionRow]:
    """Every open case: running workflows with an owner, plus the newest reconciliation run if
    it left drifts for people. `extra_query` narrows the visibility query (tests, scripts)."""
    rows = await case_rows(client, case_query(owner, extra_query), reasons=reasons)
    latest = await reconciliation_case(client, owner, extra_query)
    if latest is not None:
        rows.append(latest)
    return sorted(rows, key=lambda r: (r.owner, r.opened_at))


async def case_rows(client: Client, query: str, reasons: bool = False,
                    page_size: int = PAGE_SIZE) -> list[ExceptionRow]:
    """The rows of the workflows with a case that `query` finds, a visibility page at a time.
    Asked, a bounded number at a time, are only the lifecycles whose search attributes lack
    the SLA (their case opened before the lifecycle wrote it: fewer as they finish), the bank
    inbox (one per account), and with `reasons` every lifecycle."""
    gate = asyncio.Semaphore(_QUERIES_AT_ONCE)

    async def row_of(ex) -> ExceptionRow | None:
        carried = _carried(ex)
        if carried is not None and not reasons:
            return carried
        if ex.workflow_type not in (LIFECYCLE, INBOX):
            return ExceptionRow(**_base(ex))  # runs, statement posts, vendor sync: the attributes say it all
        async with gate:
            return await _asked(client, ex, carried)

    rows: list[ExceptionRow] = []
    async for page in pages(client, query, page_size):
        rows += [row for row in await asyncio.gather(*(row_of(ex) for ex in page)) if row is not None]
    return rows


def _base(ex) -> dict:
    attrs = ex.typed_search_attributes
    return dict(workflow_id=ex.id, subject=attrs.get(sa.INVOICE_ID) or ex.id, type=attrs.get(sa.EXCEPTION_TYPE) or "?",
                owner=attrs.get(sa.EXCEPTION_OWNER) or "?", opened_at=ex.start_time)


def _carried(ex) -> ExceptionRow | None:
    """A lifecycle's case from its search attributes alone, when they carry its SLA."""
    attrs = ex.typed_search_attributes
    due = attrs.get(sa.CASE_DUE_AT)
    if ex.workflow_type != LIFECYCLE or due is None:
        return None
    return ExceptionRow(**{**_base(ex), "opened_at": attrs.get(sa.CASE_OPENED_AT) or ex.start_time},
                        severity=attrs.get(sa.CASE_SEVERITY) or "medium", sla_due_at=due,
                        escalated=bool(attrs.get(sa.CASE_ESCALATED)))


async def _asked(client: Client, ex, carried: ExceptionRow | None) -> ExceptionRow | None:
    base = _base(ex)
    handle = client.get_workflow_handle(ex.id)
    try:
        if ex.workflow_type == LIFECYCLE:
            view = await handle.query("status", result_type=InvoiceLifecycleStatus, rpc_timeout=_QUERY_TIMEOUT)
            case = view.open_exception
            if case is None:  # resolved since the search attribute was read
                return None
            return ExceptionRow(**{**base, "type": case.type, "owner": case.owner.value, "opened_at": case.opened_at},
                                severity=case.severity.value, reason=case.reason, sla_due_at=case.sla_due_at,
                                escalated=case.escalated)
        status = await handle.query("status", rpc_timeout=_QUERY_TIMEOUT)  # the bank inbox
        problems = [p["problem"] for p in status.get("problems") or [] if not p.get("acknowledged_by")]
        if not problems:
            return None
        return ExceptionRow(**base, reason=f"{len(problems)} bank messages not reconciled; latest: {problems[-1]}")
    except Exception as err:  # noqa: BLE001 - no worker to answer: the search attributes still say who owns it
        reason = f"(status not available: {type(err).__name__})"
        return carried.model_copy(update={"reason": reason}) if carried else ExceptionRow(**base, reason=reason)


async def reconciliation_case(client: Client, owner: str | None, extra_query: str) -> ExceptionRow | None:
    """What the newest reconciliation that has ended leaves for people: its open drifts, or,
    when it failed, timed out or was terminated, that nobody knows the drifts since the run
    before. A running one has nothing to say yet; the one before it still stands."""
    query = f"WorkflowType='{RECONCILIATION}' AND ExecutionStatus!='Running' AND ExecutionStatus!='ContinuedAsNew'"
    if extra_query:
        query += f" AND ({extra_query})"
    newest = None
    async for ex in client.list_workflows(query):
        if newest is None or ex.start_time > newest.start_time:
            newest = ex
    if newest is None:
        return None
    opened = newest.close_time or newest.start_time
    base = dict(workflow_id=newest.id, opened_at=opened, sla_due_at=opened + RECONCILIATION_SLA)
    if newest.status != WorkflowExecutionStatus.COMPLETED:
        if owner and owner != RECONCILIATION_OWNER:
            return None
        ended = newest.status.name.lower().replace("_", " ") if newest.status else "without a status"
        return ExceptionRow(**base, subject=newest.id, type="ReconciliationFailed", owner=RECONCILIATION_OWNER,
                            severity="high",
                            reason=f"the newest reconciliation ended {ended}: drifts since the run before are unknown; "
                                   f"`temporal workflow show --workflow-id {newest.id}` says why")
    case_owner = newest.typed_search_attributes.get(sa.EXCEPTION_OWNER)
    if not case_owner or (owner and owner != case_owner):
        return None  # the newest run found nothing for people (earlier drifts are gone), or not for this owner
    try:  # the run's result is in its history: no worker needed, only the codec
        handle = client.get_workflow_handle(newest.id, run_id=newest.run_id, result_type=ReconciliationReport)
        report = await handle.result(follow_runs=False, rpc_timeout=_QUERY_TIMEOUT)
    except Exception as err:  # noqa: BLE001 - the search attributes still say there is a case, and whose
        return ExceptionRow(**base, subject=newest.id, type="ReconciliationDrift", owner=case_owner,
                            reason=f"(report not available: {type(err).__name__}: {err})")
    kinds = sorted({d.kind.value for d in report.open_drifts})
    kept = f"; report {report.report_path}" if report.report_path else ""
    return ExceptionRow(**base, subject=f"{report.company_code}/{report.paying_account_id}", type="ReconciliationDrift",
                        owner=case_owner, reason=f"{len(report.open_drifts)} drifts ({', '.join(kinds)}){kept}")


HEADER = ("OWNER", "TYPE", "SUBJECT", "SEVERITY", "AGE", "SLA", "REASON")


def render(rows: list[ExceptionRow], now: datetime | None = None) -> str:
    if not rows:
        return "no open exceptions"
    now = now or datetime.now(UTC)
    return format_table(HEADER, [(r.owner, r.type, r.subject, r.severity, duration(now - r.opened_at), r.sla_state(now),
                                  r.reason)
                                 for r in rows])


async def _print(owner: str | None, extra_query: str, reasons: bool) -> int:
    from settings import get_settings
    from worker import connect  # applies the payload codec; imported late, it loads every workflow

    client = await connect(get_settings())
    print(render(await open_exceptions(client, owner, extra_query, reasons=reasons)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli exceptions",
                                     description="open exception cases with age and SLA state")
    parser.add_argument("--owner", help="only this owner, e.g. treasury-ops, ap-remediation, master-data, buyer")
    parser.add_argument("--query", default="", help="narrow the workflows, e.g. \"CompanyCode='1710'\"")
    parser.add_argument("--reasons", action="store_true",
                        help="ask each lifecycle for its case's reason (one query per case; the rest is visibility)")
    args = parser.parse_args(argv)
    return asyncio.run(_print(args.owner, args.query, args.reasons))


if __name__ == "__main__":
    from cli.process_exit import run_main

    run_main(main)  # skips finalisation: see cli/process_exit.py
