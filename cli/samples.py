"""The sample lifecycles `up` starts, so a new engineer sees invoices move at once.

The hybrid estate's legal entities each get theirs: 1710 on SAP paying in pain.001, 1010 on SAP
paying a US supplier in a NACHA file, 2710 on Tryton. Fixed references make the workflow ids
fixed: re-running `up` lands on the same lifecycles (architecture invariant 1) instead of
posting the samples to the ERPs again every time.
"""

import asyncio
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus, InvoiceStatus
from cli import stack_accounts
from identity.ap_platform import PlatformSigner
from identity.dev_issuer import DevIssuer
from workflows.lifecycle_start import start_options

# By name, not by importing the workflow class: the CLI's helpers stay usable (and light)
# whatever state the workflow module is in; the names are the workflow's public contract.
WORKFLOW_TYPE = "InvoiceToPayment"
STATUS_QUERY = "status"

@dataclass(frozen=True)
class Sample:
    """One sample invoice of the hybrid estate: (text, net) lines, the tax, and what the smoke run
    (`up --exit-after-samples`) expects of it once its payment run and the bank's days are over:
    (status, reason code of the newest payment attempt or None). `expected` None: started,
    shown and paid by its account's run like the others, but not waited for nor checked; a
    sample's outcome joins the smoke run by naming it here."""

    company_code: str
    supplier_id: str
    reference: str  # ≤ 16 characters: SAP's limit
    currency: str
    tax: str
    lines: tuple[tuple[str, str], ...]
    expected: tuple[str, str | None] | None
    bank_account_id: str | None = None  # None: the ERP's default account of the supplier


_PAID = ("COMPLETED", None)
SAMPLES = (
    # 1710 ACME Europe B.V. (SAP, EUR, ACME): mock-sap's banked suppliers, VAT 21 %. GLOBEX and
    # Umbrella are paid and cleared; INITECH's account is closed at the bank (AC04) and EURODIS's
    # bank unknown (RC01): both wait for AP's remediation.
    Sample("1710", "1000013", "SAMPLE-GLX-001", "EUR", "210.00",
           (("Consulting November", "600.00"), ("Travel", "400.00")), _PAID),
    Sample("1710", "1000014", "SAMPLE-INI-001", "EUR", "514.61",
           (("TPS report licences", "2000.00"), ("Support", "450.50")), ("AWAITING_REMEDIATION", "AC04")),
    Sample("1710", "1000015", "SAMPLE-EUR-001", "EUR", "163.80", (("Office supplies", "780.00"),),
           ("AWAITING_REMEDIATION", "RC01")),
    Sample("1710", "1000016", "SAMPLE-UMB-001", "EUR", "2625.00",
           (("Freight Rotterdam-Lyon", "10000.00"), ("Customs handling", "2500.00")), _PAID),
    # 1010 ACME Americas Inc. (SAP, USD, ACMEUS in NACHA files): Quantum Components' US account
    # (ABA routing + account number, no IBAN; cli/stack_accounts.py adds it), sales tax 8.875 %.
    Sample("1010", stack_accounts.US_SUPPLIER, "SAMPLE-QTM-001", "USD", "159.75",
           (("Sensor modules", "1800.00"),), _PAID, bank_account_id=stack_accounts.US_BANK_ACCOUNT),
    # 2710 ACME Retail GmbH (Tryton, EUR, ACMEDE): the Tryton seed's suppliers, VAT 19 %.
    Sample("2710", "2700001", "SAMPLE-RBB-001", "EUR", "95.00", (("Office supplies", "500.00"),), _PAID),
    Sample("2710", "2700002", "SAMPLE-HAN-001", "EUR", "418.00",
           (("Freight Hamburg-Munich", "1800.00"), ("Handling", "400.00")), _PAID),
)
# A sample has settled once it left these: it waits for a payment run (SCHEDULED), for a
# person (ON_HOLD), or it has moved on since an earlier `up` (a payment run took it, ...).
IN_FLIGHT = {InvoiceStatus.RECEIVED, InvoiceStatus.VALIDATED, InvoiceStatus.POSTED}
_QUERY_TIMEOUT = timedelta(seconds=5)
SAMPLE_APPROVER = "ap.dave"  # the development issuer's senior approver: no approval limit


def summary(inv: Invoice) -> str:
    """The Web UI's one-line summary; `start-command` writes the same one."""
    return f"{inv.supplier_id} {inv.gross_amount} {inv.currency} due {inv.net_due_date}"


def sample_invoices(today: date | None = None, platform: PlatformSigner | None = None,
                    samples: Iterable[Sample] = SAMPLES) -> list[Invoice]:
    """The samples, approved by "ap.approver" in the AP platform: signed by the stack's stand-in
    for it (`platform`), else a typed name only, and they wait for `approve` in finsync."""
    today = today or date.today()
    invoices = []
    for sample in samples:
        net = sum((Decimal(amount) for _, amount in sample.lines), Decimal(0))
        invoices.append(Invoice.model_validate({
            "company_code": sample.company_code, "supplier_id": sample.supplier_id,
            "supplier_invoice_ref": sample.reference, "invoice_date": today.isoformat(), "currency": sample.currency,
            "net_amount": str(net), "tax_amount": sample.tax, "gross_amount": str(net + Decimal(sample.tax)),
            "payment_terms": {"code": "NT30", "net_days": 30},
            "lines": [{"line_no": i, "description": text, "net_amount": amount}
                      for i, (text, amount) in enumerate(sample.lines, start=1)],
            "approved_by": "ap.approver",
            **({"bank_account_id": sample.bank_account_id} if sample.bank_account_id else {}),
        }))
    if platform is None:
        return invoices
    return [inv.model_copy(update={"ap_platform_approval": platform.sign(
        workflow_id=inv.workflow_id, gross_amount=inv.gross_amount, currency=inv.currency,
        bank_account_id=inv.bank_account_id, approver="ap.approver", now=datetime.now(UTC))}) for inv in invoices]


def workflow_id(sample: Sample) -> str:
    return sample_invoices(samples=[sample])[0].workflow_id


def outcome_problems(samples: Iterable[Sample], views: dict[str, InvoiceLifecycleStatus | None]) -> list[str]:
    """Where an awaited sample (`expected` set) ended otherwise than expected, in words ([] if none)."""
    problems = []
    for sample in samples:
        if sample.expected is None:
            continue
        wf_id = workflow_id(sample)
        view = views.get(wf_id)
        attempt = view.payment_attempts[-1] if view and view.payment_attempts else None
        seen = (view.status.value, attempt.reason_code if attempt else None) if view else ("(no status)", None)
        if seen[0] != sample.expected[0] or (sample.expected[1] and seen[1] != sample.expected[1]):
            problems.append(f"{wf_id} is {seen[0]}{f' ({seen[1]})' if seen[1] else ''}, expected "
                            f"{sample.expected[0]}{f' ({sample.expected[1]})' if sample.expected[1] else ''}")
    return problems


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
                **start_options(inv),  # findable from the start: two actions fewer per invoice
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
                       approver: DevIssuer | None = None, awaited: set[str] | None = None,
                       grace: float = 15.0) -> tuple[dict[str, InvoiceLifecycleStatus | None], bool]:
    """Poll until every sample is past IN_FLIGHT (SCHEDULED, ON_HOLD, ...) or closed, printing
    each change; returns the last views and whether every awaited one (`awaited`: workflow ids,
    default all) got there in time. The others are given `grace` seconds more than the awaited
    ones took, so their runs can pay them too, but never hold up the rest. `check_alive`
    raises when a stack process died, so a dead worker is named, not waited on. `approver`: the
    development issuer whose senior approver (ap.dave) approves a sample finsync asks about
    (above what the AP platform's signature covers), as a person would."""
    started = time.monotonic()
    seen: dict[str, str] = {}
    views: dict[str, InvoiceLifecycleStatus | None] = {}
    approved: set[str] = set()
    awaited = set(handles) if awaited is None else awaited & set(handles)
    awaited_done_at: float | None = None
    while True:
        check_alive()
        done, others = 0, 0
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
                done, others = (done + 1, others) if wf_id in awaited else (done, others + 1)
        now = time.monotonic()
        if done == len(awaited) and awaited_done_at is None:
            awaited_done_at = now
        if awaited_done_at is not None and (others == len(handles) - len(awaited) or now - awaited_done_at > grace):
            return views, True
        if now - started > timeout:
            return views, False
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
  {state}python -m cli report --company 2710    # one legal entity: 1710 SAP, 1010 SAP (NACHA), 2710 Tryton
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
