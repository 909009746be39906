"""`python -m cli resolve --query '…' --as <who> --resolution '…'`: one owner resolves many
cases at once (after an ERP fix that explains a hundred holds, say), each through the
lifecycle's own `resolve` update, so every validator still applies and every refusal is
printed. Outage cases are never resolved by hand: they close themselves.

Each update carries a decision token bound to its workflow (architecture invariant 8). In
development the embedded stack's local issuer signs one per workflow for `--as`; in production
tokens come from the identity provider, so the command takes them from `--token-file` (a JSON
object: workflow id -> token) and refuses to run without one. It never signs in production."""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from canonical.commands import ResolveException
from canonical.status import InvoiceLifecycleStatus
from cli.samples import WORKFLOW_TYPE
from identity.configured import development_issuer

# workflow id -> the decision token for its `resolve`, or None (then it is left alone)
TokenSource = Callable[[str], str | None]


@dataclass
class Outcome:
    workflow_id: str
    resolved: bool
    detail: str


class NoTokens(ValueError):
    """The command can not get decision tokens here: the message says what to do."""


def token_source(*, environment: str, resolved_by: str | None, token_file: Path | None, dev_dir: Path) -> TokenSource:
    if token_file is not None:
        tokens = json.loads(token_file.read_text())
        if not isinstance(tokens, dict):
            raise NoTokens(f"{token_file}: expected a JSON object of workflow id -> decision token")
        return lambda workflow_id: tokens.get(workflow_id)
    if environment == "production":
        raise NoTokens("in production decision tokens come from the identity provider: pass --token-file with a "
                       "JSON object of workflow id -> `resolve` token (finsync never signs them there)")
    if not resolved_by:
        raise NoTokens("--as names who resolves (a person of the development issuer), or pass --token-file")
    issuer = development_issuer(environment=environment, dev_dir=dev_dir)
    if resolved_by not in issuer.directory:
        raise NoTokens(f"{resolved_by!r} is not in the development directory ({', '.join(sorted(issuer.directory))})")
    return lambda workflow_id: issuer.issue(resolved_by, workflow_id=workflow_id, decision="resolve",
                                            now=datetime.now(UTC))


async def resolve_many(client: Client, query: str, tokens: TokenSource, resolution: str, *,
                       case_type: str | None = None, dry_run: bool = False, concurrency: int = 8) -> list[Outcome]:
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
                token = tokens(workflow_id)
                if token is None:
                    return Outcome(workflow_id, False, f"no decision token for it (open: {case.case_id})")
                await handle.execute_update("resolve", ResolveException(
                    token=token, resolution=resolution, case_id=case.case_id))
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
