"""Supplier side of e-invoicing (mock-einvoice 0.4.0 over HTTP): send Peppol Invoice Responses.

Route. finsync is the *buyer*: suppliers push invoices to finsync's own intake (intake/, the
guide's "realistic option"), so mock-einvoice's buyer role never holds them and its test control
for the mock buyer (answering what *it* holds) is not ours to use. What a real buyer's system
does is what the guide describes under "Delivery": write the Invoice Response as a UBL
ApplicationResponse (T111) and push it to the supplier's side, which mock-einvoice exposes as
`POST /responses` ("what the other party's system uses, as it would use the network",
server.py). So this client writes it with `mockeinvoice.write_response`, checks it with
`validate_response` (the same 82 rules the supplier applies; a failure is a bug of ours, never
worth a resend), and POSTs it to `<base_url>/responses`.

The supplier side answers 201 with {id, code, ignored} or 422 (`INVALID`, `NO-SUCH-INVOICE`).
It does NOT refuse a response out of Peppol order: it keeps it flagged `ignored` with the rule
(OP-BR111-R004/R005/R012) and its status does not move. So the workflow keeps the order before
it asks for a send (canonical.invoice_response.allowed_next), and a response the supplier
flagged is reported as refused.

Idempotency. A response's cbc:ID is deterministic per status change (response_id), and the
workflow sends each status change once and in Peppol order (workflows/supplier_answers.py). What
is left is a resend after a lost answer: the network offers no lookup of what the supplier holds
(a real access point deduplicates an AS4 resend by its message id; mock-einvoice keeps a second
copy), so the supplier's own answer to the resend decides. A resend it flags out of order
(OP-BR111-R004/R005/R012) means the first one arrived: "already sent". A resend it keeps is a
second copy of the same document (same cbc:ID), which a Peppol receiver reads as one; only UQ and
PD may repeat at all. mock-einvoice's inspection paths (the supplier's sent list and the
responses it holds) are in tests/harness/einvoice.py, for tests.

One HTTP exchange per call, no retry loop: the Temporal activity owns retries.
"""

import logging
from datetime import UTC, datetime
from typing import Literal

import httpx
import mockeinvoice
from mockeinvoice.model import Value
from mockeinvoice.response import ACTION_LIST, REASON_LIST, Answered, Party, Response, Status
from pydantic import BaseModel

from adapters.http_client import HttpAdapter
from adapters.http_retry import retry_after_seconds
from canonical.invoice_response import InvoiceResponse
from telemetry.http import instrument

__all__ = [
    "EInvoiceClient",
    "EInvoiceError",
    "EInvoiceOutcomeUnknown",
    "EInvoiceTransientError",
    "InvoiceResponseRefused",
    "RecordedResponse",
    "to_application_response",
]

log = logging.getLogger(__name__)


class EInvoiceError(Exception):
    """Base of every e-invoice adapter failure; as such: configuration (credentials, a route
    the counterpart does not have)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class EInvoiceTransientError(EInvoiceError):
    """5xx, 429 or unreachable: resend. Safe, because the lookup finds a response that did
    arrive."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class EInvoiceOutcomeUnknown(EInvoiceTransientError):
    """The response was sent and no answer came back: the supplier may hold it. Resend the
    same response; the idempotency lookup decides."""


class InvoiceResponseRefused(EInvoiceError):
    """The supplier will not take this response (4xx with its reason, an `ignored` flag with
    the Peppol rule it broke) or finsync would not send it (out of Peppol order, invalid UBL).
    Sending the same response again gives the same answer."""

    def __init__(self, reason: str, message: str, *, findings: list[str] | None = None, status: int | None = None):
        self.reason = reason
        self.findings = list(findings or [])
        super().__init__(f"{reason}: {message}" + (f" ({'; '.join(self.findings)})" if self.findings else ""),
                         status=status)


# The supplier kept a response but did not heed it: a status going backwards, anything after RE
# or PD, anything after AP but PD (Peppol BIS Invoice Response process rules).
OUT_OF_ORDER_RULES = frozenset({"OP-BR111-R004", "OP-BR111-R005", "OP-BR111-R012"})


class RecordedResponse(BaseModel):
    """A response the supplier holds for one of its invoices, oldest first."""

    answer_id: str           # the supplier's own id for it
    code: str
    response_id: str         # cbc:ID of the ApplicationResponse: our idempotency key
    ignored: str = ""        # the Peppol rule it broke by arriving when it did, or ""


def _endpoint(scheme_id: str) -> Value:
    scheme, _, ident = scheme_id.partition(":")
    return Value(ident, {"schemeID": scheme})


def to_application_response(response: InvoiceResponse, now: datetime | None = None) -> bytes:
    """The UBL ApplicationResponse (Peppol BIS Invoice Response 3) for one status change."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    statuses = ([Status(code, REASON_LIST, text) for code, text in response.reasons]
                + [Status(code, ACTION_LIST, text) for code, text in response.actions])
    return mockeinvoice.write_response(Response(
        id=response.response_id,
        issue_date=now.date().isoformat(), issue_time=now.strftime("%H:%M:%S"),
        note=response.note,
        sender=Party(endpoint=_endpoint(response.buyer_endpoint), name=response.buyer_name),
        receiver=Party(endpoint=_endpoint(response.supplier_endpoint), name=response.supplier_name),
        code=response.code.value, effective_date=now.date().isoformat(), statuses=statuses,
        document=Answered(id=response.document_id,
                          issue_date=response.document_issue_date.isoformat() if response.document_issue_date else "",
                          type_code=response.document_type_code),
    ))


class EInvoiceClient(HttpAdapter):
    counterpart = "e-invoicing"
    transient_error = EInvoiceTransientError
    outcome_unknown_error = EInvoiceOutcomeUnknown
    outcome_unknown_advice = "resend: the lookup finds it if it arrived"

    def __init__(self, base_url: str, *, timeout: float = 30.0, transport: httpx.AsyncBaseTransport | None = None):
        # mock-einvoice closes the connection after an error answer: keep none open.
        self._http = instrument(httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Accept": "application/json", "Connection": "close"},
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        ))  # spans + traceparent when tracing is on (telemetry/http.py)

    # -- sending ---------------------------------------------------------------------------

    async def send(self, response: InvoiceResponse, *, resend: bool = False) -> Literal["sent", "already sent"]:
        """Tell the supplier one status change. `resend`: an earlier attempt of this same
        change may have arrived (its answer was lost). Raises InvoiceResponseRefused (do not
        resend), EInvoiceTransientError / EInvoiceOutcomeUnknown (resend)."""
        try:
            await self.post_response(to_application_response(response))
        except InvoiceResponseRefused as refused:
            if resend and refused.status == 201 and refused.reason in OUT_OF_ORDER_RULES:
                log.info("invoice response %s (%s) for %s: the supplier already holds this status",
                         response.response_id, response.code, response.document_id)
                return "already sent"
            raise
        return "sent"

    async def post_response(self, xml: bytes) -> RecordedResponse:
        """POST one ApplicationResponse to the supplier, no lookup and no order check (send()
        is the way in; this is its last step, public for tests). Validated first."""
        read, report = mockeinvoice.validate_response(xml)
        if report.failures:
            raise InvoiceResponseRefused(
                "INVALID", "finsync wrote an Invoice Response that fails its own rules",
                findings=[f"{f.code} {f.path}: {f.text}" for f in report.failures])
        http = await self._send("POST", "/responses", content=bytes(xml),
                                headers={"Content-Type": "application/xml"}, write=True)
        answer = _json(http)
        if http.status_code == 201:
            recorded = RecordedResponse(answer_id=str(answer.get("id", "")), code=str(answer.get("code", read.code)),
                                        response_id=read.id, ignored=answer.get("ignored") or "")
            if recorded.ignored:
                # Kept but not heeded: the supplier's status did not move.
                raise InvoiceResponseRefused(recorded.ignored, f"the supplier kept {read.code} {read.id} "
                                             "but ignored it as out of Peppol order", status=201)
            return recorded
        if 400 <= http.status_code < 500 and http.status_code != 429:
            findings = [f"{f.get('code')} {f.get('path')}: {f.get('text')}" for f in answer.get("findings") or []
                        if isinstance(f, dict)]
            raise InvoiceResponseRefused(str(answer.get("error") or f"HTTP {http.status_code}"),
                                         str(answer.get("reason") or http.text[:300]),
                                         findings=findings, status=http.status_code)
        self._raise_for_status(http)
        raise EInvoiceError(f"unexpected answer {http.status_code} to POST /responses", status=http.status_code)

    # -- HTTP ------------------------------------------------------------------------------

    @staticmethod
    def _raise_for_status(response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        text = response.text[:300]
        if status == 429 or status >= 500:
            raise EInvoiceTransientError(f"e-invoicing answered {status}: {text}",
                                         retry_after=retry_after_seconds(response.headers.get("retry-after")),
                                         status=status)
        raise EInvoiceError(f"e-invoicing answered {status} to {response.request.method} "
                            f"{response.request.url.path}: {text}", status=status)


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
