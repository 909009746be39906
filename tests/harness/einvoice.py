"""mock-einvoice's inspection paths, for tests: what the supplier side holds for an invoice.

The Peppol network offers a buyer no lookup of the responses a supplier holds, so the
production EInvoiceClient (adapters/einvoice.py) does without one: the workflow sends each
status change once and in order, and a resend after a lost answer is judged by the supplier's
own answer to it. This client adds the look before sending, through the mock's `/_mock/sent`
and `/_mock/answers`, so a test can show exactly one response per status change on the
supplier's side and an order refused before anything is sent.
"""

from typing import Any, Literal

import mockeinvoice

from adapters.einvoice import EInvoiceClient, InvoiceResponseRefused, RecordedResponse, log, to_application_response
from canonical.invoice_response import InvoiceResponse, ResponseCode, allowed_next


class LookupEInvoiceClient(EInvoiceClient):
    """EInvoiceClient that asks mock-einvoice what the supplier holds before each send."""

    async def recorded_responses(self, document_id: str, type_code: str = "380") -> list[RecordedResponse]:
        """What the supplier holds for its invoice `document_id`, oldest first; [] if it holds
        none (or never sent that number: the POST then says NO-SUCH-INVOICE)."""
        sent = await self._get_json("/_mock/sent")
        # The supplier matches a response to the LAST document sent with that number and type.
        matching = [d for d in sent if str(d.get("number", "")).strip() == document_id.strip()
                    and str(d.get("type", "")).strip() == type_code]
        if not matching:
            return []
        document = await self._get_json(f"/_mock/sent/{matching[-1]['id']}")
        recorded = []
        for got in document.get("responses") or []:
            xml = await self._get_bytes(f"/_mock/answers/{got['id']}")
            read, _findings = mockeinvoice.read_response(xml)
            recorded.append(RecordedResponse(answer_id=str(got["id"]), code=str(got["code"]),
                                             response_id=read.id, ignored=got.get("ignored") or ""))
        return recorded

    async def send(self, response: InvoiceResponse, *, resend: bool = False) -> Literal["sent", "already sent"]:
        """One response per status change whatever the attempt, checked against what the
        supplier holds; an order finsync does not allow is refused before sending."""
        recorded = await self.recorded_responses(response.document_id, response.document_type_code)
        for earlier in recorded:
            if earlier.response_id == response.response_id:
                if earlier.ignored:
                    raise InvoiceResponseRefused(earlier.ignored, f"the supplier holds {response.code} "
                                                 f"{response.response_id} but ignored it (out of order)")
                log.info("invoice response %s (%s) for %s already with the supplier",
                         response.response_id, response.code, response.document_id)
                return "already sent"
        heeded = [r for r in recorded if not r.ignored]
        previous = ResponseCode(heeded[-1].code) if heeded else None
        if not allowed_next(previous, response.code):
            raise InvoiceResponseRefused(
                "OUT-OF-ORDER", f"{response.code} cannot follow {previous or 'nothing'} "
                "(Peppol BIS Invoice Response process rules; see canonical.invoice_response)")
        await self.post_response(to_application_response(response))
        return "sent"

    async def _get_json(self, path: str) -> Any:
        response = await self._send("GET", path)
        self._raise_for_status(response)
        return response.json()

    async def _get_bytes(self, path: str) -> bytes:
        response = await self._send("GET", path)
        self._raise_for_status(response)
        return response.content
