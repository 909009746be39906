"""`python -m cli status` at any size: every lifecycle from visibility, a page at a time, and its
payment detail from the treasury store, one store query per page. No lifecycle is asked
anything, so tens of thousands cost a few dozen list calls, and no worker is woken; a person
asks one lifecycle for its reasons with `temporal workflow query --name status`."""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session, col, select
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from adapters.payment_registers import PaymentRow
from reports import format_table
from workflows import search_attributes as sa

LIFECYCLE = "InvoiceToPayment"  # by name: the workflow's public contract
# Visibility pages: the server's maximum is 1000 by default; bigger pages, fewer calls.
PAGE_SIZE = 1000
_STORE_CHUNK = 500  # invoice keys per IN (...): below SQLite's bound-parameter limit
HEADER = ("INVOICE", "STATUS", "ERP DOCUMENT", "ATTEMPT", "END-TO-END ID", "PAYMENT FILE", "OPEN EXCEPTION")


@dataclass(frozen=True)
class LatestAttempt:
    """The newest payment attempt the treasury store holds for an invoice."""

    attempt: int
    end_to_end_id: str
    message_id: str
    accounting_document: str | None


def lifecycle_query(extra_query: str = "") -> str:
    # A lifecycle that continued as new is one invoice: its current run only.
    query = f"WorkflowType='{LIFECYCLE}' AND ExecutionStatus!='ContinuedAsNew'"
    return query + (f" AND ({extra_query})" if extra_query else "")


async def pages(client: Client, query: str, page_size: int = PAGE_SIZE):
    """The executions a query finds, one visibility page at a time."""
    page: list[WorkflowExecution] = []
    async for ex in client.list_workflows(query, page_size=page_size):
        page.append(ex)
        if len(page) == page_size:
            yield page
            page = []
    if page:
        yield page


def latest_attempts(engine, invoice_keys: Iterable[str]) -> dict[str, LatestAttempt]:
    """Invoice key -> its newest attempt in the payment register; an invoice never in a run has none."""
    found: dict[str, LatestAttempt] = {}
    keys = sorted(set(invoice_keys))
    with Session(engine) as session:
        for start in range(0, len(keys), _STORE_CHUNK):
            chunk = keys[start:start + _STORE_CHUNK]
            for paid in session.exec(select(PaymentRow).where(col(PaymentRow.invoice_key).in_(chunk))):
                if paid.invoice_key not in found or paid.attempt > found[paid.invoice_key].attempt:
                    found[paid.invoice_key] = LatestAttempt(paid.attempt, paid.end_to_end_id, paid.message_id,
                                                            paid.accounting_document)
    return found


def row(ex: WorkflowExecution, attempt: LatestAttempt | None) -> tuple[str, ...]:
    attrs = ex.typed_search_attributes
    state = attrs.get(sa.INVOICE_STATUS) or "?"
    if ex.status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
        # Terminated, failed, timed out: its last business state, marked.
        state = f"{state} ({ex.status.name.lower() if ex.status else 'no status'})"
    owner, kind = attrs.get(sa.EXCEPTION_OWNER), attrs.get(sa.EXCEPTION_TYPE)
    return (attrs.get(sa.INVOICE_ID) or ex.id, state,
            (attempt.accounting_document or "-") if attempt else "-",
            str(attempt.attempt) if attempt else "-",
            attempt.end_to_end_id if attempt else "-",
            attempt.message_id if attempt else "-",
            f"{owner}/{kind}" if owner else "-")


async def status_rows(client: Client, engine, extra_query: str = "",
                      page_size: int = PAGE_SIZE) -> list[tuple[str, ...]]:
    """Every lifecycle's row, sorted by invoice. `engine` None: no store here, visibility only."""
    rows: list[tuple[str, ...]] = []
    async for page in pages(client, lifecycle_query(extra_query), page_size):
        keys = [ex.typed_search_attributes.get(sa.INVOICE_ID) or ex.id for ex in page]
        attempts = await asyncio.to_thread(latest_attempts, engine, keys) if engine is not None else {}
        rows += [row(ex, attempts.get(key)) for ex, key in zip(page, keys, strict=True)]
    return sorted(rows)


def render(rows: list[tuple[str, ...]]) -> str:
    return format_table(HEADER, rows) if rows else f"no {LIFECYCLE} workflows"
