"""Telling the supplier what happened to its invoice (Peppol Invoice Responses, T111).

Safe to retry and to run again after a crash: the response's id is deterministic per status
change, and a retry tells the adapter that an earlier attempt may have arrived, so the
supplier's answer to the resend decides (adapters/einvoice.py).
"""

from collections.abc import Mapping

from temporalio import activity

from activities.errors import business_error, transient_error
from adapters.einvoice import EInvoiceClient, EInvoiceTransientError, InvoiceResponseRefused
from canonical.entities import LegalEntity
from canonical.invoice_response import InvoiceResponse
from canonical.supplier_texts import reviewed

REFUSED = "InvoiceResponseRefused"
NO_BUYER_PARTY = "NoBuyerParty"


class SupplierResponseActivities:
    def __init__(self, client: EInvoiceClient, entities: Mapping[str, LegalEntity] | None = None) -> None:
        """`entities`: the legal entities by company code, whose Peppol identity answers."""
        self._client, self._entities = client, dict(entities or {})

    def _with_buyer(self, response: InvoiceResponse) -> InvoiceResponse:
        """Our party on the response: its company code's entity. Never another entity's identity:
        a company code without a Peppol endpoint is refused (the lifecycle notes it)."""
        if response.buyer_endpoint:
            return response  # queued by an older build, which named the party itself
        entity = self._entities.get(response.company_code)
        if entity is None or not entity.peppol_endpoint:
            raise business_error(NO_BUYER_PARTY, f"company code {response.company_code or '(none)'} has no Peppol "
                                                 "endpoint in FINSYNC_LEGAL_ENTITIES: no answer to the supplier")
        return response.model_copy(update={"buyer_endpoint": entity.peppol_endpoint, "buyer_name": entity.name})

    @activity.defn
    async def send_invoice_response(self, response: InvoiceResponse) -> str:
        """"sent" or "already sent". Refusal (out of Peppol order, invalid, unknown invoice):
        non-retryable InvoiceResponseRefused. Unreachable/5xx/no answer: retryable."""
        # The last guard: a response queued by an older build may still carry an internal note.
        response = self._with_buyer(reviewed(response))
        try:
            return await self._client.send(response, resend=activity.info().attempt > 1)
        except InvoiceResponseRefused as exc:
            raise business_error(REFUSED, str(exc), exc.reason, exc.findings) from exc
        except EInvoiceTransientError as exc:
            raise transient_error(str(exc), exc.retry_after) from exc
