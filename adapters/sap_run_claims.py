"""A payment run's claims on many invoices at once, through OData `$batch` (guides/mock-sap.md
§6, §10): per chunk one request reads the invoices, one reads their open items, one the claimed
invoices of other suppliers with the same references (adapters/sap_clearing_twins.py), and one
changeset writes the claims. Same rules as SapPayments.claim_for_payment_run, one HTTP
exchange per step instead of three per invoice (a 1,000-invoice run claimed in ~1 s).

Claiming again with the same run id and date writes nothing: an invoice already claimed by
this run is not PATCHed again, so a retried chunk is harmless."""

import logging
from collections.abc import Callable
from datetime import date
from urllib.parse import quote

from adapters.odata_batch import BatchAnswer, BatchRequest, decode_batch, encode_batch
from adapters.sap import SapClient
from adapters.sap_clearing_twins import claimed_twins
from adapters.sap_errors import SapBusinessError, SapTransientError
from adapters.sap_odata import SUPPLIER_INVOICE_SRV, key
from adapters.sap_payments import (
    CLAIM_FIELDS,
    OPEN_ITEM_SRV,
    RELEASED_CLAIM,
    SapPayments,
    claim_fields,
    claim_refusal,
    is_claimed_by,
    open_item_filter,
    to_open_item,
)
from canonical.erp import OpenItem
from canonical.status import ErpDocument

log = logging.getLogger(__name__)

_IF_MATCH = (("If-Match", "*"),)


def _key(doc: ErpDocument) -> str:
    return f"A_SupplierInvoice(SupplierInvoice={key(doc.invoice_document)},FiscalYear={key(doc.fiscal_year)})"


def _check(answer: BatchAnswer, what: str) -> None:
    """A part SAP could not serve right now fails the whole chunk: it is retried as a whole."""
    if answer.status == 429 or answer.status >= 500:
        raise SapTransientError(f"SAP {answer.status} in $batch for {what}", status=answer.status)


class SapRunClaims:
    def __init__(self, sap: SapClient):
        self._sap = sap
        self._single = SapPayments(sap)

    async def claim(self, docs: list[ErpDocument], run_id: str, run_date: date,
                    alive: Callable[[], None] = lambda: None) -> dict[str, str | None]:
        """Invoice document -> None (claimed for this run) or why SAP may not be asked to pay
        it. A refused invoice that still carries this run's claim gets it released. `alive`
        is called after each request to SAP (the caller's heartbeat)."""
        invoices = await self._invoices(docs)
        alive()
        items = await self._open_items(docs, invoices)
        alive()
        # Invoices of other suppliers SAP could not tell from these on a statement line: at most
        # one of such twins is claimed at a time (adapters/sap_clearing_twins.py).
        twins = await claimed_twins(self._sap, [i for i in invoices.values() if i is not None])
        alive()
        outcome: dict[str, str | None] = {}
        writes: list[tuple[ErpDocument, dict]] = []
        for doc in docs:
            invoice = invoices[doc.invoice_document]
            refusal = claim_refusal(doc, invoice, items.get(doc.invoice_document), run_id)
            if refusal is None and invoice is not None:
                refusal = twins.refusal(doc, invoice)
            outcome[doc.invoice_document] = refusal.message if refusal else None
            if refusal is None:
                twins.claimed(invoice or {}, run_id)  # a twin later in the chunk sees it
            if refusal is None and not is_claimed_by(invoice, run_id, run_date):
                writes.append((doc, claim_fields(run_id, run_date)))
            elif refusal is not None and invoice and (invoice.get("PaymentRunID") or "") == run_id:
                twins.claimed(invoice, "")
                writes.append((doc, RELEASED_CLAIM))
        await self._write(writes, outcome, alive)
        return outcome

    async def release(self, docs: list[ErpDocument], run_id: str) -> int:
        """Take this run's claim off those of `docs` that still carry it (another run's claim
        stays); returns how many were released."""
        invoices = await self._invoices(docs)
        ours = [(d, RELEASED_CLAIM) for d in docs
                if ((invoices[d.invoice_document] or {}).get("PaymentRunID") or "") == run_id]
        await self._write(ours, {})
        return len(ours)

    # -- the three requests of a chunk --------------------------------------------------------

    async def _invoices(self, docs: list[ErpDocument]) -> dict[str, dict | None]:
        answers = await self._batch(SUPPLIER_INVOICE_SRV, [
            BatchRequest("GET", f"{_key(d)}?$select={CLAIM_FIELDS}") for d in docs])
        found: dict[str, dict | None] = {}
        for doc, [answer] in zip(docs, answers, strict=True):
            _check(answer, f"invoice {doc.invoice_document}")
            if answer.status == 404:
                found[doc.invoice_document] = None
            elif answer.status >= 400:
                raise SapBusinessError(answer.status, "",
                                       f"reading invoice {doc.invoice_document}: {answer.body[:300]!r}")
            else:
                found[doc.invoice_document] = answer.json()["d"]
        return found

    async def _open_items(self, docs: list[ErpDocument],
                          invoices: dict[str, dict | None]) -> dict[str, OpenItem | None]:
        company = {d.invoice_document: invoice["CompanyCode"] for d in docs
                   if (invoice := invoices[d.invoice_document]) is not None}
        present = [d for d in docs if d.invoice_document in company]
        if not present:
            return {}
        answers = await self._batch(OPEN_ITEM_SRV, [
            BatchRequest("GET", "A_OperationalAcctgDocItemCube?$filter="
                         + quote(open_item_filter(d, company[d.invoice_document]), safe="'"))
            for d in present])
        items = {}
        for doc, [answer] in zip(present, answers, strict=True):
            _check(answer, f"open item of {doc.invoice_document}")
            if answer.status >= 400:
                raise SapBusinessError(answer.status, "",
                                       f"reading the open item of {doc.invoice_document}: {answer.body[:300]!r}")
            items[doc.invoice_document] = to_open_item(doc, answer.json()["d"]["results"])
        return items

    async def _write(self, writes: list[tuple[ErpDocument, dict]], outcome: dict[str, str | None],
                     alive: Callable[[], None] = lambda: None) -> None:
        """One changeset. SAP rolls it back whole when one member fails; then each is written
        on its own, so one refused invoice does not keep the others from the run."""
        if not writes:
            return
        answers = await self._batch(SUPPLIER_INVOICE_SRV, [], [
            BatchRequest("PATCH", _key(doc), fields, _IF_MATCH) for doc, fields in writes])
        [changeset] = answers
        if len(changeset) == len(writes) and all(a.status < 300 for a in changeset):
            return
        _check(changeset[0], "the claim changeset")
        log.warning("claim changeset of %d refused (%s); writing one by one", len(writes), changeset[0].status)
        for doc, fields in writes:
            try:
                await self._single._patch_claim(doc, fields)
            except SapBusinessError as e:
                if fields is not RELEASED_CLAIM:
                    outcome[doc.invoice_document] = e.message
            alive()

    async def _batch(self, service: str, reads: list[BatchRequest],
                     changeset: list[BatchRequest] | None = None) -> list[list[BatchAnswer]]:
        content_type, body = encode_batch(reads, changeset)
        response = await self._sap._write("POST", service, f"{service}/$batch", None, content=body,
                                          headers={"Content-Type": content_type})
        answers = decode_batch(response.headers.get("content-type", ""), response.content)
        if len(answers) != len(reads) + (1 if changeset else 0):
            raise SapTransientError(f"SAP answered {len(answers)} parts to a $batch of {len(reads)} reads"
                                    f"{' and a changeset' if changeset else ''}")
        return answers
