"""Helpers for tests that follow a payment through the bank: the bank's own date, the side
cases a lifecycle keeps, and the refusal an update gets."""

from datetime import date

import httpx
from temporalio.client import WorkflowHandle

from canonical.exceptions import ExceptionCase
from canonical.status import InvoiceLifecycleStatus


async def bank_date(bank_url: str) -> date:
    async with httpx.AsyncClient(base_url=bank_url) as http:
        response = await http.get("/_mock/state")
    response.raise_for_status()
    return date.fromisoformat(response.json()["clock"]["date"])


def side_case(view: InvoiceLifecycleStatus, case_type: str) -> ExceptionCase | None:
    return next((c for c in view.open_side_cases if c.type == case_type), None)


async def refusal(handle: WorkflowHandle, update, arg) -> str:
    """The validator's answer to an update it refuses (the test fails if it is accepted)."""
    from temporalio.client import WorkflowUpdateFailedError
    try:
        await handle.execute_update(update, arg)
    except WorkflowUpdateFailedError as err:
        return str(getattr(err.cause, "message", err.cause))
    raise AssertionError(f"{update} was accepted")
