"""finsync's inbound e-invoice endpoint: `POST /invoices` with a Peppol BIS Billing 3 UBL body.

Answers as a receiving access point does: 201 accepted, 422 with the failed rule codes,
400 for a body that is not an invoice at all. An accepted invoice becomes (or reaches) its
lifecycle by signal-with-start: the workflow id comes from the business key, so a second
push of the same invoice signals the running lifecycle instead of starting a second one
(architecture invariant 1). A byte-identical push is recognised here, by the document's
sha256, before anything is signalled (push_register); the lifecycle dedupes receipts again.
"""

import asyncio
import hashlib
import logging
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from intake import mapping, rules, ubl
from intake.models import Finding, NotAnInvoice
from intake.push_register import PushRegister
from intake.suppliers import SupplierRegister

log = logging.getLogger("finsync.intake")

WORKFLOW_TYPE = "InvoiceToPayment"  # by name: the lifecycle's public contract, as the CLI uses it
SIGNAL = "einvoice_received"
MAX_BODY = 10 * 1024 * 1024  # a Peppol invoice with embedded attachments stays well below this
_RPC_TIMEOUT = timedelta(seconds=10)


def create_app(client: Client, task_queue: str, suppliers_register: SupplierRegister,
               pushes: PushRegister | None = None) -> Starlette:
    pushes = pushes or PushRegister()

    async def receive(request: Request) -> JSONResponse:
        received_at = datetime.now(UTC)
        body = await _read_capped(request)
        if body is None:
            return JSONResponse({"code": "TOO-LARGE", "reason": f"the body exceeds {MAX_BODY} bytes"}, status_code=413)
        try:
            doc = ubl.read(ubl.parse(body))
        except NotAnInvoice as e:
            log.info("refused a push: %s", e.code)
            return JSONResponse({"code": e.code, "reason": e.reason}, status_code=400)
        findings = rules.check(doc)
        invoice = None
        if not findings:
            invoice, findings = mapping.to_canonical(doc, suppliers_register)
        if findings:
            log.info("invoice %r refused: %s", doc.number, ", ".join(sorted({f.code for f in findings})))
            return _refused(findings)
        assert invoice is not None  # to_canonical gives an invoice or findings
        sha256 = hashlib.sha256(body).hexdigest()
        known = await asyncio.to_thread(pushes.known, sha256)
        if known is not None:  # the same bytes again: the lifecycle has them; nothing to signal
            log.info("invoice %s pushed again, byte-identical (document %s...)", invoice.key, sha256[:12])
            return JSONResponse({"invoice_key": invoice.key, "workflow_id": known, "sha256": sha256, "started": False,
                                 "duplicate": True}, status_code=201)
        receipt = mapping.receipt(invoice, doc, sha256, received_at)
        try:
            handle = await client.start_workflow(
                WORKFLOW_TYPE, invoice, id=invoice.workflow_id, task_queue=task_queue,
                # Signal-with-start: a running lifecycle gets the receipt, a missing one is
                # created with it. A closed one is not started again (as the CLI's
                # RejectDuplicate): a paid invoice pushed again is not a new invoice.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                start_signal=SIGNAL, start_signal_args=[receipt],
                static_summary=f"{invoice.supplier_id} {invoice.gross_amount} {invoice.currency} "
                               f"due {invoice.net_due_date}",
                rpc_timeout=_RPC_TIMEOUT,
            )
        except WorkflowAlreadyStartedError:
            log.info("invoice %s pushed again after its lifecycle closed", invoice.key)
            return JSONResponse({"code": "ALREADY-CLOSED", "workflow_id": invoice.workflow_id, "reason":
                                 "the lifecycle for this invoice has closed; a new push does not reopen it"},
                                 status_code=409)
        except RPCError as e:
            # Temporal unreachable: the sender's access point retries later, nothing is lost.
            log.warning("could not reach Temporal for %s: %s", invoice.key, e.status)
            return JSONResponse({"code": "UNAVAILABLE", "reason": "try again later"}, status_code=503,
                                headers={"Retry-After": "30"})
        await asyncio.to_thread(pushes.record, sha256, invoice.workflow_id)
        started = _started(handle)
        log.info("invoice %s accepted (document %s..., %s)", invoice.key, sha256[:12],
                 "new lifecycle" if started
                 else "signalled the existing lifecycle" if started is False else "lifecycle reached")
        return JSONResponse({"invoice_key": invoice.key, "workflow_id": invoice.workflow_id, "sha256": sha256,
                             "started": started}, status_code=201)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/invoices", receive, methods=["POST"]), Route("/health", health, methods=["GET"])])


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
