"""Telling the supplier what happened to its invoice (Peppol Invoice Responses, T111).

Safe to retry and to run again after a crash: the response's id is deterministic per status
change, and a retry tells the adapter that an earlier attempt may have arrived, so the
supplier's answer to the resend decides (adapters/einvoice.py).
"""

from temporalio import activity

from activities.errors import business_error, transient_error
from adapters.einvoice import EInvoiceClient, EInvoiceTransientError, InvoiceResponseRefused
from canonical.invoice_response import InvoiceResponse
from canonical.supplier_texts import reviewed

REFUSED = "InvoiceResponseRefused"


class SupplierResponseActivities:
    def __init__(self, client: EInvoiceClient) -> None:
        self._client = client

    @activity.defn
    async def send_invoice_response(self, response: InvoiceResponse) -> str:
        """"sent" or "already sent". Refusal (out of Peppol order, invalid, unknown invoice):
        non-retryable InvoiceResponseRefused. Unreachable/5xx/no answer: retryable."""
        # The last guard: a response queued by an older build may still carry an internal note.
        response = reviewed(response)
        try:
            return await self._client.send(response, resend=activity.info().attempt > 1)
        except InvoiceResponseRefused as exc:
            raise business_error(REFUSED, str(exc), exc.reason, exc.findings) from exc
        except EInvoiceTransientError as exc:
            raise transient_error(str(exc), exc.retry_after) from exc
