"""SAP S/4HANA (OData V2) adapter: supplier master data, purchase orders, supplier invoices.

Each call is one HTTP exchange (plus a CSRF token fetch for writes). There is deliberately no
retry loop here: the Temporal activity owns retries, and a write that may have landed must be
looked up (find_supplier_invoices), never blindly repeated.
"""

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx

from adapters import sap_paging
from adapters.http_client import HttpAdapter
from adapters.sap_errors import (
    SapBusinessError,
    SapError,
    SapOutcomeUnknown,
    SapTransientError,
    is_csrf_refusal,
    raise_for_sap_status,
)
from adapters.sap_odata import (
    BUSINESS_PARTNER_SRV,
    OTHER_INVOICE_FIELDS,
    PURCHASE_ORDER_SRV,
    SUPPLIER_INVOICE_SRV,
    format_date,
    invoice_path,
    key,
    literal,
    to_other_invoice,
    to_posted_invoice,
    to_purchase_order,
    to_supplier,
)
from canonical.duplicates import OtherInvoice
from canonical.erp import PostedInvoice, PurchaseOrder
from canonical.invoice import Invoice
from canonical.keys import normalise_reference
from canonical.money import format_amount
from canonical.status import ErpDocument
from canonical.supplier import CompanyCode, Supplier
from telemetry.http import instrument

if TYPE_CHECKING:
    from settings import Settings

__all__ = ["SapBusinessError", "SapClient", "SapError", "SapOutcomeUnknown", "SapTransientError"]

MAX_REFERENCE = 16  # SupplierInvoiceIDByInvcgParty (XBLNR) is CHAR 16
MAX_ITEM_TEXT = 50  # SupplierInvoiceItemText


def invoice_body(invoice: Invoice) -> dict:
    """The A_SupplierInvoice deep insert for an approved invoice."""
    body: dict = {
        "CompanyCode": invoice.company_code,
        "InvoicingParty": invoice.supplier_id,
        # The normalised reference is THE reference in SAP, so duplicate lookups are exact.
        "SupplierInvoiceIDByInvcgParty": normalise_reference(invoice.supplier_invoice_ref),
        "DocumentDate": format_date(invoice.invoice_date),
        "InvoiceGrossAmount": format_amount(invoice.gross_amount),
        "DocumentCurrency": invoice.currency,
        # Explicit baseline + days: SAP's terms table must not move the due date we approved.
        "DueCalculationBaseDate": format_date(invoice.invoice_date),
        "NetPaymentDays": (invoice.net_due_date - invoice.invoice_date).days,
        # PostingDate is left to SAP: its clock and its open period decide it.
    }
    if invoice.payment_terms.code:
        body["PaymentTerms"] = invoice.payment_terms.code
    if invoice.bank_account_id:
        body["BPBankAccountInternalID"] = invoice.bank_account_id
    po_lines = [line for line in invoice.lines if line.po_number]
    # SAP holds the items to the invoice total only when EVERY item states an amount, and an
    # OData invoice has no tax split, so that total is the gross. Our lines add up to the NET.
    # Verified against mock-sap 0.22.0: items stating net amounts on a taxed invoice are
    # refused ("Balance not zero: the items come to 1000.00 EUR and the invoice states a net
    # of 1190.00"); items without amounts post. So amounts go on the items only when they
    # add up to the gross (no tax, every line on a PO); otherwise the items carry the PO
    # reference, quantity and text only.
    state_amounts = sum((line.net_amount for line in po_lines), Decimal(0)) == invoice.gross_amount
    items = []
    for line in po_lines:
        item = {
            "PurchaseOrder": line.po_number,
            "PurchaseOrderItem": (line.po_item or "").zfill(5),  # SAP's EBELP is NUMC 5: 10 -> 00010
            "SupplierInvoiceItemText": line.description[:MAX_ITEM_TEXT],
        }
        if state_amounts:
            item["SupplierInvoiceItemAmount"] = format_amount(line.net_amount)
        if line.quantity is not None and line.unit:
            item["QuantityInPurchaseOrderUnit"] = format_amount(line.quantity)
            item["PurchaseOrderQuantityUnit"] = line.unit
        items.append(item)
    if items:
        body["to_SuplrInvcItemPurOrdRef"] = items
    return body


class SapClient(HttpAdapter):
    counterpart = "SAP"
    transient_error = SapTransientError
    outcome_unknown_error = SapOutcomeUnknown
    outcome_unknown_advice = "it may have been processed: look it up before posting again"

    def __init__(
        self,
        base_url: str,
        *,
        sap_client: str = "100",
        user: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        keepalive: bool = False,
        company_codes: dict[str, CompanyCode] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        headers = {"sap-client": sap_client, "Accept": "application/json"}
        if not keepalive:
            # Measured (bench/sap_connection.py): a persistent connection to this server stalls
            # ~45 ms per request; a fresh one costs a few ms. Close on both ends.
            headers["Connection"] = "close"
        self._http = instrument(httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            auth=httpx.BasicAuth(user, password or "") if user else None,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=None if keepalive else 0),
            transport=transport,
        ))  # spans + traceparent when tracing is on (telemetry/http.py)
        self._company_codes = dict(company_codes or {})
        self._csrf: dict[str, str] = {}  # per service root: real gateways scope tokens that way

    @classmethod
    def from_settings(cls, s: "Settings") -> "SapClient":
        return cls(
            s.sap_url,
            sap_client=s.sap_client,
            user=s.sap_user,
            password=s.sap_password.get_secret_value() if s.sap_password else None,
            timeout=s.sap_timeout_seconds,
            keepalive=s.sap_keepalive,
            company_codes=s.company_codes,
        )

    # -- reads -----------------------------------------------------------------------------

    async def get_supplier(self, supplier_id: str) -> Supplier | None:
        bp = await self._get_entity(
            f"{BUSINESS_PARTNER_SRV}/A_BusinessPartner({key(supplier_id)})",
            {"$expand": "to_BusinessPartnerBank"},
        )
        return to_supplier(bp) if bp else None

    async def get_company_code(self, company_code: str) -> CompanyCode | None:
        # The mock SAP serves no company-code API, so this reads the configured register.
        return self._company_codes.get(company_code)

    async def get_purchase_order(self, po_number: str) -> PurchaseOrder | None:
        po = await self._get_entity(
            f"{PURCHASE_ORDER_SRV}/A_PurchaseOrder({key(po_number)})", {"$expand": "to_PurchaseOrderItem"}
        )
        return to_purchase_order(po) if po else None

    async def find_supplier_invoices(self, supplier_id: str, reference: str) -> list[PostedInvoice]:
        """Invoices already posted for this supplier and (normalised) reference. SAP has no
        duplicate check, so this is how a retried or timed-out post finds its first attempt."""
        response = await self._send(
            "GET",
            f"{SUPPLIER_INVOICE_SRV}/A_SupplierInvoice",
            params={
                "$filter": f"InvoicingParty eq {literal(supplier_id)} "
                f"and SupplierInvoiceIDByInvcgParty eq {literal(reference)}"
            },
        )
        raise_for_sap_status(response)
        rows = response.json()["d"]["results"]
        return [to_posted_invoice(row) for row in sorted(rows, key=lambda r: (r["FiscalYear"], r["SupplierInvoice"]))]

    async def invoices_of_amount(self, supplier_id: str, company_code: str, amount: Decimal, currency: str,
                                 page: int = 1000) -> list[OtherInvoice]:
        """The supplier's posted invoices in this company code for exactly this amount: what a
        near-duplicate check compares references and dates with (canonical/duplicates.py). All
        of them, `page` at a time: a check that saw only the first thousand would pass a copy of
        a monthly fee's thousand-and-first invoice unseen. In document order, so one posted while
        this reads comes after the pages already read."""
        params = {"$filter": f"InvoicingParty eq {literal(supplier_id)} and CompanyCode eq {literal(company_code)} "
                             f"and DocumentCurrency eq {literal(currency)} and InvoiceGrossAmount eq "
                             f"{format_amount(amount)}M",
                  "$select": OTHER_INVOICE_FIELDS, "$orderby": "FiscalYear,SupplierInvoice", "$top": str(page)}
        rows: list[dict] = []
        while True:
            # One window of `page` rows from $skip on, whole even where the gateway pages it
            # (__next); a short window is the last.
            window, _ = await self.read_all(f"{SUPPLIER_INVOICE_SRV}/A_SupplierInvoice",
                                            {**params, "$skip": str(len(rows))})
            rows += window
            if len(window) < page:
                return [to_other_invoice(row) for row in rows]

    async def read_all(self, path: str, params: dict[str, str] | None = None,
                       headers: dict[str, str] | None = None) -> tuple[list[dict], str | None]:
        """Every row of a read, across the gateway's own pages, and the last `__delta` link."""
        return await sap_paging.read_all(self._send, path, params, headers)

    # -- writes ----------------------------------------------------------------------------

    def postability_problems(self, invoice: Invoice) -> list[str]:
        """SAP's field limits, checked before posting so they become a person's task, not a
        400 in the middle of a workflow. Item texts are truncated, so they are no problem."""
        problems = []
        reference = normalise_reference(invoice.supplier_invoice_ref)
        if not reference:
            problems.append("the supplier invoice reference is empty once spaces are removed")
        elif len(reference) > MAX_REFERENCE:
            problems.append(
                f"reference {reference!r} has {len(reference)} characters; SAP keeps at most {MAX_REFERENCE}"
            )
        for line in invoice.lines:
            if bool(line.po_number) != bool(line.po_item):
                problems.append(f"line {line.line_no} must name both a purchase order and its item, or neither")
        return problems

    async def post_supplier_invoice(self, invoice: Invoice) -> PostedInvoice:
        """Post once. SapOutcomeUnknown means it may have posted: call find_supplier_invoices."""
        response = await self._write(
            "POST", SUPPLIER_INVOICE_SRV, f"{SUPPLIER_INVOICE_SRV}/A_SupplierInvoice", invoice_body(invoice)
        )
        return to_posted_invoice(response.json()["d"])

    async def set_payment_block(self, doc: ErpDocument, reason: str) -> None:
        # Only this field: SAP lets a PATCH change any field of a posted invoice, even its
        # amount, which would no longer match its open item.
        await self._write("PATCH", SUPPLIER_INVOICE_SRV, invoice_path(doc), {"PaymentBlockingReason": reason})

    # -- HTTP ------------------------------------------------------------------------------

    async def _get_entity(self, path: str, params: dict[str, str]) -> dict | None:
        response = await self._send("GET", path, params=params)
        if response.status_code == 404:
            return None
        raise_for_sap_status(response)
        return response.json()["d"]

    async def _write(
        self,
        method: str,
        service: str,
        path: str,
        body: dict | None,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """The one write path (CSRF, one refetch, error mapping). `content` replaces the JSON
        body for a non-OData payload (an IDoc's XML, its Content-Type in `headers`); both
        exist for adapters/sap_payments.py, which writes through this hook."""

        async def send() -> httpx.Response:
            return await self._send(
                method, path, json=body, content=content, headers=headers, write=True,
                csrf=await self._csrf_token(service), timeout=timeout,
            )

        response = await send()
        if is_csrf_refusal(response):
            # Refused before processing (nothing written): a fresh token and ONE more try.
            self._csrf.pop(service, None)
            response = await send()
        raise_for_sap_status(response)
        return response

    async def _csrf_token(self, service: str) -> str:
        if service not in self._csrf:
            response = await self._send("GET", f"{service}/", headers={"X-CSRF-Token": "Fetch"})
            raise_for_sap_status(response)
            self._csrf[service] = response.headers.get("x-csrf-token", "")
        return self._csrf[service]

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        write: bool = False,
        csrf: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """HttpAdapter's send with SAP's CSRF header; `kwargs` are httpx's (params, json, content)."""
        headers = dict(headers or {})
        if csrf:
            headers["X-CSRF-Token"] = csrf
        if timeout:
            kwargs["timeout"] = timeout
        return await super()._send(method, path, write=write, headers=headers, **kwargs)
