"""Near-duplicate search before a lifecycle posts (canonical/duplicates.py): the supplier's
invoices in the ERP (SAP's OData supplier-invoice reads) and the supplier's other running
lifecycles (visibility, by their SupplierId and CompanyCode search attributes, and the facts
each keeps in its memo). Read-only; which rules apply is the worker's setting
(FINSYNC_NEAR_DUPLICATE_CHECK), never the caller's (architecture invariant 8)."""

from datetime import timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError

from activities.errors import business_error, transient_error
from adapters.sap import SapBusinessError, SapClient, SapTransientError
from canonical.duplicates import DuplicateRules, InvoiceFacts, OtherInvoice, loose_reference, near_duplicates
from canonical.invoice import Invoice
from canonical.status import InvoiceStatus
from workflows import search_attributes as sa

LIFECYCLE_TYPE = "InvoiceToPayment"  # the workflow's public name
FACTS_MEMO = "invoice_facts"  # what a lifecycle shows the others (workflows/near_duplicates.py)
PAGE_SIZE = 1000
MAX_LIFECYCLES = 10_000  # running lifecycles of one supplier looked at; past that, the ERP still answers
_QUERY_TIMEOUT = timedelta(seconds=5)
# Where a running lifecycle's invoice may not be in the ERP yet (ON_HOLD: held before or after).
UNPOSTED = (InvoiceStatus.RECEIVED, InvoiceStatus.AWAITING_APPROVAL, InvoiceStatus.VALIDATED, InvoiceStatus.ON_HOLD)


class DuplicateSearch:
    def __init__(self, client: Client, sap: SapClient, rules: DuplicateRules) -> None:
        self._client, self._sap, self._rules = client, sap, rules

    @activity.defn
    async def possible_duplicates_in_erp(self, invoice: Invoice) -> list[OtherInvoice]:
        if self._rules == "off":
            return []
        try:
            posted = await self._sap.invoices_of_amount(invoice.supplier_id, invoice.company_code,
                                                        invoice.gross_amount, invoice.currency)
        except SapTransientError as e:
            raise transient_error(f"ERP unavailable for the near-duplicate check: {e}", e.retry_after) from e
        except SapBusinessError as e:  # a refused query is refused again: a person looks
            raise business_error("ErpRefusedDuplicateQuery", e.message) from e
        return near_duplicates(invoice, posted, self._rules)

    @activity.defn
    async def possible_duplicates_in_lifecycles(self, invoice: Invoice) -> list[OtherInvoice]:
        """The supplier's other running lifecycles, judged by the facts in their memo. One
        started before lifecycles kept it is judged by its reference (the InvoiceId search
        attribute) and, only when that matches, by the amount its status query gives."""
        if self._rules == "off":
            return []
        # Both values are [0-9A-Z] (Invoice's patterns): safe inside a query string. Only the
        # states before posting: a lifecycle past them has its invoice in the ERP, which the
        # other activity reads; so a burst of one supplier's invoices does not list them all.
        states = ", ".join(f"'{s}'" for s in UNPOSTED)
        query = (f"WorkflowType='{LIFECYCLE_TYPE}' AND ExecutionStatus='Running' AND "
                 f"{sa.SUPPLIER_ID.name}='{invoice.supplier_id}' AND {sa.COMPANY_CODE.name}='{invoice.company_code}' "
                 f"AND {sa.INVOICE_STATUS.name} IN ({states})")
        others: list[OtherInvoice] = []
        try:
            async for ex in self._client.list_workflows(query, page_size=PAGE_SIZE, limit=MAX_LIFECYCLES):
                if ex.id == invoice.workflow_id:
                    continue
                other = await self._other(ex, invoice)
                if other is not None:
                    others.append(other)
        except RPCError as e:
            raise transient_error(f"Temporal visibility unavailable for the near-duplicate check: {e.message}") from e
        return near_duplicates(invoice, others, self._rules)

    async def _other(self, ex, invoice: Invoice) -> OtherInvoice | None:
        status = ex.typed_search_attributes.get(sa.INVOICE_STATUS)
        try:
            facts = await ex.memo_value(FACTS_MEMO, None, type_hint=InvoiceFacts)
        except (ValueError, TypeError) as err:  # pydantic's ValidationError is a ValueError
            activity.logger.warning("lifecycle %s has unreadable invoice facts: %s", ex.id, err)
            facts = None
        if facts is not None:
            return OtherInvoice(source="lifecycle", document=ex.id, reference=facts.reference,
                                invoice_date=facts.invoice_date, gross_amount=facts.gross_amount,
                                currency=facts.currency, status=status)
        key = ex.typed_search_attributes.get(sa.INVOICE_ID) or ""
        reference = key.split("-", 2)[-1]  # <company>-<supplier>-<reference>
        if not reference or loose_reference(reference) != loose_reference(invoice.supplier_invoice_ref):
            return None
        try:
            view = await self._client.get_workflow_handle(ex.id).query("status", rpc_timeout=_QUERY_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - a lifecycle that can not answer is looked at by its key only
            activity.logger.warning("lifecycle %s did not answer its status query: %s", ex.id, err)
            return None
        return OtherInvoice(source="lifecycle", document=ex.id, reference=reference,
                            gross_amount=Decimal(view["gross_amount"]), currency=view["currency"], status=status)
