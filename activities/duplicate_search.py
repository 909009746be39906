"""Near-duplicate search before a lifecycle posts (canonical/duplicates.py): the supplier's
invoices in the ERP of its company code (the ERP port) and the supplier's other running
lifecycles (visibility, by their SupplierId and CompanyCode search attributes, and the facts
each keeps in its memo; activities/lifecycle_listing.py). Read-only; which rules apply is the
worker's setting (FINSYNC_NEAR_DUPLICATE_CHECK), never the caller's (architecture invariant 8).

`possible_duplicates` asks both in one activity (one billable action instead of two). A transient
failure of either read is retried under the outage case of the counterpart that failed: it carries
that counterpart's case type (ERP_OUTAGE, LIFECYCLES_OUTAGE; workflows/activity_options.py,
NEAR_DUPLICATE_SEARCH). The two single reads stay registered for histories recorded before it."""

from datetime import timedelta
from decimal import Decimal

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import business_error, transient_error
from activities.lifecycle_listing import SupplierLifecycles, UnpostedLifecycle
from activities.shared_reads import SharedReads
from adapters.erp_directory import ErpDirectory
from adapters.erp_errors import ErpBusinessError, ErpTransientError
from canonical.duplicates import DuplicateFindings, DuplicateRules, OtherInvoice, loose_reference, near_duplicates
from canonical.invoice import Invoice

_QUERY_TIMEOUT = timedelta(seconds=5)
ERP_OUTAGE, LIFECYCLES_OUTAGE = "ErpUnavailable", "LifecycleCallsFailing"  # the parts' outage case types


class DuplicateSearch:
    def __init__(self, client: Client, erps: ErpDirectory, rules: DuplicateRules) -> None:
        self._client, self._erps, self._rules = client, erps, rules
        self._lifecycles = SupplierLifecycles(client)  # list calls shared per supplier (lifecycle_listing)
        # A burst of one supplier's invoices of one amount asks the ERP the same question, whose
        # answer grows with each one posted: one read at a time per question (shared_reads).
        self._in_erp = SharedReads(self._invoices_of_amount)

    @activity.defn
    async def possible_duplicates(self, invoice: Invoice) -> DuplicateFindings:
        """Both reads; the ERP first, so a refused ERP query ends the call as it ended the pair.
        Read-only, so a retry after either part failed asks both again."""
        try:
            in_erp = await self.possible_duplicates_in_erp(invoice)
        except ApplicationError as e:
            if e.non_retryable:  # a business refusal as it is
                raise
            raise _outage(e, ERP_OUTAGE) from None
        try:
            in_lifecycles = await self.possible_duplicates_in_lifecycles(invoice)
        except ApplicationError as e:
            if e.non_retryable:
                raise
            raise _outage(e, LIFECYCLES_OUTAGE) from None
        return DuplicateFindings(in_erp=in_erp, in_lifecycles=in_lifecycles)

    @activity.defn
    async def possible_duplicates_in_erp(self, invoice: Invoice) -> list[OtherInvoice]:
        if self._rules == "off":
            return []
        try:
            posted = await self._in_erp.get(
                (invoice.company_code, invoice.supplier_id, invoice.gross_amount, invoice.currency))
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable for the near-duplicate check: {e}", e.retry_after) from e
        except ErpBusinessError as e:  # a refused query is refused again: a person looks
            raise business_error("ErpRefusedDuplicateQuery", e.message) from e
        return near_duplicates(invoice, posted, self._rules)

    async def _invoices_of_amount(self, question: tuple[str, str, Decimal, str]) -> list[OtherInvoice]:
        company_code, supplier_id, amount, currency = question
        return await self._erps.for_company(company_code).invoices_of_amount(supplier_id, company_code, amount,
                                                                            currency)

    @activity.defn
    async def possible_duplicates_in_lifecycles(self, invoice: Invoice) -> list[OtherInvoice]:
        """The supplier's other running lifecycles that have not posted yet, judged by the facts
        in their memo. One started before lifecycles kept them is judged by its reference (its
        InvoiceId) and, only when that matches, by the amount its status query gives."""
        if self._rules == "off":
            return []
        try:
            listed = await self._lifecycles.unposted(invoice.supplier_id, invoice.company_code)
        except RPCError as e:
            if e.status == RPCStatusCode.UNIMPLEMENTED:  # a server with no visibility list (the time-skipping
                # test server): there are no other lifecycles to read; the ERP's invoices were read
                activity.logger.warning("Temporal lists no workflows here: near-duplicate check against the ERP only")
                return []
            raise transient_error(f"Temporal visibility unavailable for the near-duplicate check: {e.message}") from e
        others = [other for lifecycle in listed if lifecycle.workflow_id != invoice.workflow_id
                  if (other := await self._other(lifecycle, invoice)) is not None]
        return near_duplicates(invoice, others, self._rules)

    async def _other(self, lifecycle: UnpostedLifecycle, invoice: Invoice) -> OtherInvoice | None:
        facts, status = lifecycle.facts, lifecycle.status
        if facts is not None:
            return OtherInvoice(source="lifecycle", document=lifecycle.workflow_id, reference=facts.reference,
                                invoice_date=facts.invoice_date, gross_amount=facts.gross_amount,
                                currency=facts.currency, status=status)
        reference = (lifecycle.invoice_key or "").split("-", 2)[-1]  # <company>-<supplier>-<reference>
        if not reference or loose_reference(reference) != loose_reference(invoice.supplier_invoice_ref):
            return None
        try:
            view = await self._client.get_workflow_handle(lifecycle.workflow_id).query(
                "status", rpc_timeout=_QUERY_TIMEOUT)
        except Exception as err:  # noqa: BLE001 - a lifecycle that can not answer is looked at by its key only
            activity.logger.warning("lifecycle %s did not answer its status query: %s", lifecycle.workflow_id, err)
            return None
        return OtherInvoice(source="lifecycle", document=lifecycle.workflow_id, reference=reference,
                            gross_amount=Decimal(view["gross_amount"]), currency=view["currency"], status=status)


def _outage(error: ApplicationError, outage_type: str) -> ApplicationError:
    """A transient failure typed as its counterpart's outage case, Retry-After kept."""
    return ApplicationError(error.message, type=outage_type, next_retry_delay=error.next_retry_delay)
