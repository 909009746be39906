"""finsync's inbound e-invoice endpoint: `POST /invoices` with a Peppol BIS Billing 3 UBL body.

Only a known sender's signed, fresh push is read (401 otherwise), at that sender's rate (429
beyond it): intake/boundary.py. Then it answers as a receiving access point does: 201 accepted,
422 with the failed rule codes, 400 for a body that is not an invoice at all. An accepted
invoice becomes (or reaches) its lifecycle by signal-with-start: the workflow id comes from the
business key, so a second push of the same invoice signals the running lifecycle instead of
starting a second one (architecture invariant 1). A byte-identical push is recognised here, by
the document's sha256, before anything is signalled, and answered as the first was
(push_register); the lifecycle dedupes receipts again. An invoice that already got
`documents_per_invoice` distinct documents gets no more: further ones are answered 409
TOO-MANY-DOCUMENTS and counted, and the lifecycle is told the count at 1, 2, 4, 8, ... refusals,
so no flood grows its history without bound.
"""

import asyncio
import hashlib
import logging
import weakref
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from canonical.einvoice import EInvoiceRefusals
from canonical.invoice import Invoice
from intake import mapping, rules, ubl
from intake.boundary import Boundary
from intake.document import UblInvoice
from intake.models import Finding, NotAnInvoice
from intake.push_register import PushRegister
from intake.suppliers import SupplierRegister
from workflows.lifecycle_start import start_options

log = logging.getLogger("finsync.intake")

WORKFLOW_TYPE = "InvoiceToPayment"  # by name: the lifecycle's public contract, as the CLI uses it
SIGNAL = "einvoice_received"
REFUSED_SIGNAL = "einvoice_refused"
MAX_BODY = 10 * 1024 * 1024  # a Peppol invoice with embedded attachments stays well below this
_RPC_TIMEOUT = timedelta(seconds=10)


def create_app(client: Client, task_queue: str, suppliers_register: SupplierRegister,
               pushes: PushRegister | None = None, *, boundary: Boundary) -> Starlette:
    pushes = pushes or PushRegister()
    # One push per invoice at a time in this process: two copies of one document (or two
    # documents for one invoice) arriving together would both pass the register's checks.
    locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def receive(request: Request) -> JSONResponse:
        received_at = datetime.now(UTC)
        body = await _read_capped(request)
        if body is None:
            return JSONResponse({"code": "TOO-LARGE", "reason": f"the body exceeds {MAX_BODY} bytes"}, status_code=413)
        sender = boundary.admit(request.headers, body)
        if isinstance(sender, JSONResponse):
            return sender
        try:
            doc = ubl.read(ubl.parse(body))
        except NotAnInvoice as e:
            log.info("refused a push from %s: %s", sender, e.code)
            return JSONResponse({"code": e.code, "reason": e.reason}, status_code=400)
        findings = rules.check(doc)
        invoice = None
        if not findings:
            invoice, findings = mapping.to_canonical(doc, suppliers_register)
        if findings:
            codes = ", ".join(sorted({f.code for f in findings}))
            log.info("invoice %r from %s refused: %s", doc.number, sender, codes)
            return _refused(findings)
        assert invoice is not None  # to_canonical gives an invoice or findings
        lock = locks.get(invoice.workflow_id)
        if lock is None:
            lock = locks[invoice.workflow_id] = asyncio.Lock()
        async with lock:
            return await _pass_on(invoice, doc, hashlib.sha256(body).hexdigest(), received_at, sender)

    async def _pass_on(invoice: Invoice, doc: UblInvoice, sha256: str, received_at: datetime,
                       sender: str) -> JSONResponse:
        wid = invoice.workflow_id
        known = await asyncio.to_thread(pushes.known, sha256)
        if known is not None and known.refused:  # refused before: the same answer, not counted again
            return _too_many(wid, boundary.documents_per_invoice, await asyncio.to_thread(pushes.refused, wid))
        if known is not None:  # the same bytes again: the lifecycle has them; nothing to signal
            log.info("invoice %s pushed again by %s, byte-identical (document %s...)", invoice.key, sender, sha256[:12])
            return JSONResponse({"invoice_key": invoice.key, "workflow_id": known.workflow_id, "sha256": sha256,
                                 "started": False, "duplicate": True}, status_code=201)
        if await asyncio.to_thread(pushes.documents, wid) >= boundary.documents_per_invoice:
            refused = await asyncio.to_thread(pushes.refuse, sha256, wid)
            log.warning("invoice %s: document %s... from %s refused, %d distinct documents refused so far",
                        invoice.key, sha256[:12], sender, refused)
            if refused & (refused - 1) == 0:  # 1, 2, 4, 8, ...: the lifecycle's history grows by log2 at most
                await _tell_refusals(wid, EInvoiceRefusals(invoice_key=invoice.key, refused=refused,
                                                           limit=boundary.documents_per_invoice))
            return _too_many(wid, boundary.documents_per_invoice, refused)
        receipt = mapping.receipt(invoice, doc, sha256, received_at)
        try:
            handle = await client.start_workflow(
                WORKFLOW_TYPE, invoice, id=wid, task_queue=task_queue,
                # Signal-with-start: a running lifecycle gets the receipt, a missing one is
                # created with it. A closed one is not started again (as the CLI's
                # RejectDuplicate): a paid invoice pushed again is not a new invoice.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                start_signal=SIGNAL, start_signal_args=[receipt],
                static_summary=f"{invoice.supplier_id} {invoice.gross_amount} {invoice.currency} "
                               f"due {invoice.net_due_date}",
                rpc_timeout=_RPC_TIMEOUT,
                **start_options(invoice),  # shown from the start: two actions fewer per invoice
            )
        except WorkflowAlreadyStartedError:
            log.info("invoice %s pushed again after its lifecycle closed", invoice.key)
            return JSONResponse({"code": "ALREADY-CLOSED", "workflow_id": wid, "reason":
                                 "the lifecycle for this invoice has closed; a new push does not reopen it"},
                                status_code=409)
        except RPCError as e:
            # Temporal unreachable: the sender's access point retries later, nothing is lost.
            log.warning("could not reach Temporal for %s: %s", invoice.key, e.status)
            return JSONResponse({"code": "UNAVAILABLE", "reason": "try again later"}, status_code=503,
                                headers={"Retry-After": "30"})
        await asyncio.to_thread(pushes.record, sha256, wid)
        started = _started(handle)
        log.info("invoice %s from %s accepted (document %s..., %s)", invoice.key, sender, sha256[:12],
                 "new lifecycle" if started
                 else "signalled the existing lifecycle" if started is False else "lifecycle reached")
        return JSONResponse({"invoice_key": invoice.key, "workflow_id": wid, "sha256": sha256,
                             "started": started}, status_code=201)

    async def _tell_refusals(wid: str, refusals: EInvoiceRefusals) -> None:
        try:
            await client.get_workflow_handle(wid).signal(REFUSED_SIGNAL, refusals, rpc_timeout=_RPC_TIMEOUT)
        except RPCError as e:  # closed, or Temporal away: the count stays in intake's register
            log.warning("could not tell %s of %d refused documents: %s", wid, refusals.refused, e.status)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/invoices", receive, methods=["POST"]), Route("/health", health, methods=["GET"])])


def _too_many(workflow_id: str, limit: int, refused: int) -> JSONResponse:
    return JSONResponse({"code": "TOO-MANY-DOCUMENTS", "workflow_id": workflow_id, "refused": refused, "reason":
                         f"this invoice already has {limit} distinct documents; further ones are refused and "
                         f"counted ({refused} so far), and its lifecycle's case says how many"},
                        status_code=409)


def _refused(findings: list[Finding]) -> JSONResponse:
    return JSONResponse({"code": "INVALID", "findings": [f.as_json() for f in findings]}, status_code=422)


async def _read_capped(request: Request) -> bytes | None:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _started(handle) -> bool | None:
    """Whether signal-with-start created the workflow. The SDK keeps the server's answer
    only privately; None when it is not there (the lifecycle was reached either way)."""
    response = getattr(handle, "_start_workflow_response", None)
    return bool(response.started) if response is not None and hasattr(response, "started") else None
