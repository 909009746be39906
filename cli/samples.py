"""The sample lifecycles `up` starts, so a new engineer sees invoices move at once.

Fixed references make the workflow ids fixed: re-running `up` lands on the same lifecycles
(DESIGN invariant 1) instead of posting four more invoices to the ERP every time.
"""

import asyncio
import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus, InvoiceStatus
from identity.ap_platform import PlatformSigner
from identity.dev_issuer import DevIssuer

# By name, not by importing the workflow class: the CLI's helpers stay usable (and light)
# whatever state the workflow module is in; the names are the workflow's public contract.
WORKFLOW_TYPE = "InvoiceToPayment"
STATUS_QUERY = "status"

COMPANY_CODE = "1710"
# (mock-sap supplier, reference ≤ 16 chars: the ERP's limit, VAT 21 %, lines as (text, net)).
_SAMPLES = [
    ("1000013", "SAMPLE-GLX-001", "210.00", [("Consulting November", "600.00"), ("Travel", "400.00")]),
    ("1000014", "SAMPLE-INI-001", "514.61", [("TPS report licences", "2000.00"), ("Support", "450.50")]),
    ("1000015", "SAMPLE-EUR-001", "163.80", [("Office supplies", "780.00")]),
    ("1000016", "SAMPLE-UMB-001", "2625.00", [("Freight Rotterdam-Lyon", "10000.00"), ("Customs handling", "2500.00")]),
]
# A sample has settled once it left these: it waits for a payment run (SCHEDULED), for a
# person (ON_HOLD), or it has moved on since an earlier `up` (a payment run took it, ...).
IN_FLIGHT = {InvoiceStatus.RECEIVED, InvoiceStatus.VALIDATED, InvoiceStatus.POSTED}
_QUERY_TIMEOUT = timedelta(seconds=5)
SAMPLE_APPROVER = "ap.dave"  # the development issuer's senior approver: no approval limit


def summary(inv: Invoice) -> str:
    """The Web UI's one-line summary; `start-command` writes the same one."""
    return f"{inv.supplier_id} {inv.gross_amount} {inv.currency} due {inv.net_due_date}"


def sample_invoices(today: date | None = None, platform: PlatformSigner | None = None) -> list[Invoice]:
    """The samples, approved by "ap.approver" in the AP platform: signed by the stack's stand-in
    for it (`platform`), else a typed name only, and they wait for `approve` in finsync."""
    today = today or date.today()
    invoices = []
    for supplier, ref, tax, lines in _SAMPLES:
        net = sum((Decimal(amount) for _, amount in lines), Decimal(0))
        invoices.append(Invoice.model_validate({
            "company_code": COMPANY_CODE, "supplier_id": supplier, "supplier_invoice_ref": ref,
            "invoice_date": today.isoformat(), "currency": "EUR",
            "net_amount": str(net), "tax_amount": tax, "gross_amount": str(net + Decimal(tax)),
            "payment_terms": {"code": "NT30", "net_days": 30},
            "lines": [{"line_no": i, "description": text, "net_amount": amount}
                      for i, (text, amount) in enumerate(lines, start=1)],
            "approved_by": "ap.approver",
        }))
    if platform is None:
        return invoices
    return [inv.model_copy(update={"ap_platform_approval": platform.sign(
        workflow_id=inv.workflow_id, gross_amount=inv.gross_amount, currency=inv.currency,
        bank_account_id=inv.bank_account_id, approver="ap.approver", now=datetime.now(UTC))}) for inv in invoices]


async def start_samples(client: Client, task_queue: str, invoices: list[Invoice]) -> dict[str, WorkflowHandle]:
    """Start each sample once. A running one is joined (USE_EXISTING); a closed one is left
    alone (REJECT_DUPLICATE raises), which is what makes a second `up` resume, not duplicate."""
    handles: dict[str, WorkflowHandle] = {}
    for inv in invoices:
        try:  # only to say "started" or "resumed": the start call below decides
            before = await client.get_workflow_handle(inv.workflow_id).describe()
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            before = None
        try:
            handles[inv.workflow_id] = await client.start_workflow(
                WORKFLOW_TYPE, inv, id=inv.workflow_id, task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=summary(inv),
            )
            print(f"  {'resumed' if before else 'started'}  {inv.workflow_id}", flush=True)
        except WorkflowAlreadyStartedError:
            # Closed earlier (completed or cancelled): a new run would be a second lifecycle.
            handles[inv.workflow_id] = client.get_workflow_handle(inv.workflow_id)
            print(f"  already done  {inv.workflow_id}", flush=True)
    return handles


async def _approve(handle: WorkflowHandle, wf_id: str, issuer: DevIssuer) -> None:
    token = issuer.issue(SAMPLE_APPROVER, workflow_id=wf_id, decision="approve", now=datetime.now(UTC))
    try:
        await handle.execute_update("approve", {"token": token, "note": "make up: above the AP platform's limit"})
    except WorkflowUpdateFailedError as err:
        print(f"  approval of {wf_id} refused: {getattr(err.cause, 'message', err.cause)}", flush=True)
        return
    print(f"  approved  {wf_id} as {SAMPLE_APPROVER} (python -m cli decision approve ...)", flush=True)


async def read_status(handle: WorkflowHandle) -> InvoiceLifecycleStatus | None:
    """The status query, or None while the lifecycle has not run its first task yet."""
    try:
        return await handle.query(STATUS_QUERY, result_type=InvoiceLifecycleStatus,
                                  rpc_timeout=_QUERY_TIMEOUT)
    except Exception:  # noqa: BLE001 - not yet queryable (no worker/first task): ask again
        return None


async def wait_settled(handles: dict[str, WorkflowHandle], timeout: float, check_alive=lambda: None,
                       approver: DevIssuer | None = None) -> tuple[dict[str, InvoiceLifecycleStatus | None], bool]:
    """Poll until every sample is past IN_FLIGHT (SCHEDULED, ON_HOLD, ...) or closed, printing
    each change; returns the last views and whether all got there in time. `check_alive`
    raises when a stack process died, so a dead worker is named, not waited on. `approver`: the
    development issuer whose senior approver (ap.dave) approves a sample finsync asks about
    (above what the AP platform's signature covers), as a person would."""
    started = time.monotonic()
    seen: dict[str, str] = {}
    views: dict[str, InvoiceLifecycleStatus | None] = {}
    approved: set[str] = set()
    while True:
        check_alive()
        done = 0
        for wf_id, handle in handles.items():
            views[wf_id] = view = await read_status(handle)
            label = view.status.value if view else "(waiting for the worker)"
            if seen.get(wf_id) != label:
                seen[wf_id] = label
                print(f"  {time.monotonic() - started:6.1f}s  {wf_id:40} {label}", flush=True)
                if approver is not None and view and view.status == InvoiceStatus.AWAITING_APPROVAL \
                        and wf_id not in approved:
                    approved.add(wf_id)
                    await _approve(handle, wf_id, approver)
            if view and view.status == InvoiceStatus.AWAITING_APPROVAL and wf_id in approved:
                continue  # approved: it moves on
            if view and (view.status not in IN_FLIGHT or await _closed(handle)):
                done += 1
        if done == len(handles) or time.monotonic() - started > timeout:
            return views, done == len(handles)
        await asyncio.sleep(0.5)


async def _closed(handle: WorkflowHandle) -> bool:
    return (await handle.describe()).status != WorkflowExecutionStatus.RUNNING


def _sample_id(views: dict, supplier_id: str) -> str:
    return next((i for i in views if f"-{supplier_id}-" in i), next(iter(views)))


def print_guide(address: str, ui_url: str, bank_url: str, repo: Path, state: str, task_queue: str, views: dict,
                einvoice_url: str = "http://127.0.0.1:8100") -> None:
    """What to try next, with this stack's real ids and address filled in."""
    def rejected_with(code: str) -> str | None:
        return next((i for i, v in views.items()
                     if v and v.payment_attempts and v.payment_attempts[-1].reason_code == code), None)

    # INITECH's account is closed at the bank (AC04); `up` gave it a second account, 0002, in the ERP.
    initech = rejected_with("AC04") or _sample_id(views, "1000014")
    decide = "python -m cli decision"  # prints the update's input with a development decision token
    rejection = {"reason_code": "AC04", "end_to_end_id": "<EndToEndId of the attempt, from the status query>",
                 "reported_by": "treasury.tom"}
    # No run_date: the run is dated the day it starts. One open run per paying account (the id);
    # the sample run was run_number 1, so the next one is 2 (3 after that, ...).
    run = {"paying_account_id": "ACME", "horizon_days": 60, "run_number": 2}
    order = {"number": "4500000102",
             "buyer": {"name": "ACME Europe B.V.", "endpoint": "0088:8712345000011", "country": "NL",
                       "street": "Keizersgracht 1", "city": "Amsterdam", "postal_code": "1015 CJ"},
             "lines": [{"line": "00010", "name": "Widget", "quantity": "4", "unit": "C62", "price": "12.50"}]}

    def js(value: dict) -> str:
        return json.dumps(value, separators=(",", ":"))

    print(f"""
Web UI: {ui_url}

Try (in another terminal, from {repo}):
  export PATH="$PWD/.venv/bin:$PATH" TEMPORAL_ADDRESS={address}
  {state}python -m cli status
  # exceptions waiting for AP (AC04 account closed, RC01 bank identifier incorrect)
  temporal workflow list --query 'ExceptionOwner="ap-remediation"'
  temporal workflow query --workflow-id {initech} --name status
  # master data got new bank details from the supplier: pay to its account 0002 from now on
  # (a decision: the token says who takes it; another payee needs approval again)
  temporal workflow update execute --workflow-id {initech} --name resolve --input "$({decide} resolve \\
    --as md.mia --workflow-id {initech} --set resolution='new bank details confirmed' --set bank_account_id=0002)"
  temporal workflow update execute --workflow-id {initech} --name approve \\
    --input "$({decide} approve --as ap.bob --workflow-id {initech})"
  # the next payment run pays it again (new EndToEndId, attempt 2)
  temporal workflow start --type PaymentRun --task-queue {task_queue} --workflow-id payment-run-ACME \\
    --input '{js(run)}'
  # the bank's next day: settlement and the day's statement, which clears the invoice in the ERP
  curl -s -X POST '{bank_url}/_mock/advance?days=1'
  # a payment sent but not answered by the bank (a BankSilent case for treasury-ops):
  # treasury reports the rejection it learned of by phone: a case, and finsync asks the bank;
  # only the bank's own evidence sends the invoice back to AP for a new attempt
  temporal workflow update execute --workflow-id <invoice workflow id> --name report_bank_rejection \\
    --input '{js(rejection)}'
  # a supplier's e-invoice (Peppol UBL) pushed to finsync's intake endpoint: a new lifecycle
  curl -s -X POST {einvoice_url}/_mock/orders -H 'Content-Type: application/json' \\
    -d '{js(order)}'
  # the supplier bills it; intake answers 201
  curl -s -X POST -H 'Content-Length: 0' {einvoice_url}/_mock/orders/<order id>/invoices
  # an invoice of your own: its approved_by is not signed by the AP platform, so finsync asks
  python -m cli start-command samples/invoice-globex.json      # prints the start command
  eval "$(python -m cli start-command samples/invoice-globex.json)"
  GLX=$(python -m cli workflow-id samples/invoice-globex.json)
  temporal workflow update execute --workflow-id $GLX --name approve \\
    --input "$({decide} approve --as ap.carol --workflow-id $GLX --set note='matches the order')"
  temporal workflow update execute --workflow-id $GLX --name cancel \\
    --input "$({decide} cancel --as ap.alice --workflow-id $GLX --set reason=duplicate)\"""", flush=True)
