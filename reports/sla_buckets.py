"""Open cases by owner and SLA state for the status report, counted by visibility.

A lifecycle writes its shown case's SLA into search attributes (CaseDueAt, CaseEscalated,
workflows/search_attributes.py), so each owner's within / overdue / escalated count is one
`count_workflows` call: a fixed number of calls however many lifecycles and cases there are,
and no lifecycle is asked. Temporal's visibility groups counts by ExecutionStatus only, so
the owners are counted one by one (canonical ExceptionOwner: every owner a lifecycle's case
can have). What visibility can not count is listed and bucketed row by row: lifecycles whose
case opened before they wrote its SLA (asked, fewer as they finish), the other workflows with
a case (runs, the bank inbox, statement posts, vendor sync: no SLA), and the newest
reconciliation's drifts."""

import asyncio
from collections import Counter
from datetime import UTC, datetime

from pydantic import BaseModel
from temporalio.client import Client

from canonical.exceptions import ExceptionOwner
from reports.exceptions_table import LIFECYCLE, case_query, case_rows, reconciliation_case
from workflows import search_attributes as sa

BUCKETS = ("within", "overdue", "escalated", "none")
_COUNTS_AT_ONCE = 8


class SlaLine(BaseModel):
    """One owner's open cases by SLA state (ExceptionRow.sla_bucket's buckets)."""

    owner: str
    within: int = 0
    overdue: int = 0
    escalated: int = 0
    none: int = 0  # no SLA: a workflow other than a lifecycle, or a case nobody answered for

    @property
    def open(self) -> int:
        return self.within + self.overdue + self.escalated + self.none


def carried_query(extra_query: str = "") -> str:
    """The running lifecycles whose case's SLA is in visibility."""
    return f"{case_query(extra_query=extra_query)} AND WorkflowType='{LIFECYCLE}' AND {sa.CASE_DUE_AT.name} IS NOT NULL"


def not_carried_query(extra_query: str = "") -> str:
    """Every other running workflow with a case: listed and bucketed row by row."""
    return case_query(extra_query=extra_query) + f" AND (WorkflowType!='{LIFECYCLE}' OR {sa.CASE_DUE_AT.name} IS NULL)"


def bucket_query(owner: str, bucket: str, now: datetime, extra_query: str = "") -> str:
    """One owner's carried cases in one bucket. Escalated first, as ExceptionRow.sla_bucket:
    an escalated case has a new due date, but it is counted as escalated."""
    moment = now.astimezone(UTC).isoformat() if now.tzinfo else now.replace(tzinfo=UTC).isoformat()
    due, escalated = sa.CASE_DUE_AT.name, sa.CASE_ESCALATED.name
    condition = {"escalated": f"{escalated}=true",
                 "overdue": f"{escalated}=false AND {due}<'{moment}'",
                 "within": f"{escalated}=false AND {due}>='{moment}'"}[bucket]
    return f"{carried_query(extra_query)} AND {sa.EXCEPTION_OWNER.name}='{owner}' AND {condition}"


async def sla_lines(client: Client, now: datetime, extra_query: str = "") -> list[SlaLine]:
    """Every owner with an open case, by SLA state at `now`, sorted by owner."""
    counts: dict[str, Counter[str]] = {}
    if (await client.count_workflows(carried_query(extra_query))).count:
        gate = asyncio.Semaphore(_COUNTS_AT_ONCE)

        async def count(owner: str, bucket: str) -> tuple[str, str, int]:
            async with gate:
                found = await client.count_workflows(bucket_query(owner, bucket, now, extra_query))
            return owner, bucket, found.count

        for owner, bucket, n in await asyncio.gather(*(count(o.value, b) for o in ExceptionOwner
                                                       for b in ("within", "overdue", "escalated"))):
            if n:
                counts.setdefault(owner, Counter())[bucket] += n
    rows = await case_rows(client, not_carried_query(extra_query))
    newest = await reconciliation_case(client, None, extra_query)
    for row in [*rows, *([newest] if newest else [])]:
        counts.setdefault(row.owner, Counter())[row.sla_bucket(now)] += 1
    return [SlaLine(owner=owner, **{b: c[b] for b in BUCKETS}) for owner, c in sorted(counts.items())]
