"""`python -m cli resolve --query '…' --as <who> --resolution '…'`: one owner resolves many
cases at once (after an ERP fix that explains a hundred holds, say), each through the
lifecycle's own `resolve` update, so every validator still applies and every refusal is
printed. Outage cases are never resolved by hand: they close themselves."""

import asyncio
from dataclasses import dataclass

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from canonical.commands import ResolveException
from canonical.status import InvoiceLifecycleStatus
from cli.samples import WORKFLOW_TYPE


@dataclass
class Outcome:
    workflow_id: str
    resolved: bool
    detail: str


async def resolve_many(client: Client, query: str, resolved_by: str, resolution: str, *, case_type: str | None = None,
                       dry_run: bool = False, concurrency: int = 8) -> list[Outcome]:
    scope = f'WorkflowType="{WORKFLOW_TYPE}" AND ExecutionStatus="Running"'
    ids = [w.id async for w in client.list_workflows(f"{scope} AND ({query})" if query.strip() else scope)]
    gate = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> Outcome:
        async with gate:
            handle = client.get_workflow_handle(workflow_id)
            try:
                view = await handle.query("status", result_type=InvoiceLifecycleStatus)
                case = _case_to_resolve(view, case_type)
                if case is None:
                    return Outcome(workflow_id, False, f"no open case{f' of type {case_type}' if case_type else ''}")
                if dry_run:
                    return Outcome(workflow_id, True, f"would resolve {case.case_id} ({case.type})")
                await handle.execute_update("resolve", ResolveException(
                    resolved_by=resolved_by, resolution=resolution, case_id=case.case_id))
                return Outcome(workflow_id, True, f"resolved {case.case_id} ({case.type})")
            except WorkflowUpdateFailedError as err:
                return Outcome(workflow_id, False, f"refused: {getattr(err.cause, 'message', err.cause)}")
            except RPCError as err:
                return Outcome(workflow_id, False, f"not reachable: {err.message}")

    return list(await asyncio.gather(*(one(i) for i in ids)))


def _case_to_resolve(view: InvoiceLifecycleStatus, case_type: str | None):
    outage_ids = {c.case_id for c in view.open_outages}
    candidates = [c for c in [view.open_exception, *view.open_side_cases]
                  if c is not None and c.case_id not in outage_ids]
    return next((c for c in candidates if case_type in (None, c.type)), None)


def print_outcomes(outcomes: list[Outcome]) -> int:
    for o in sorted(outcomes, key=lambda o: (o.resolved, o.workflow_id)):
        print(f"{'ok ' if o.resolved else 'NO '} {o.workflow_id}: {o.detail}")
    done = sum(o.resolved for o in outcomes)
    print(f"{done} of {len(outcomes)} lifecycles resolved" if outcomes else "no running lifecycle matches the query")
    return 0 if done == len(outcomes) else 1
