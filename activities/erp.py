"""ERP activities: validate against master data, post exactly once, block payment. Each asks
the ERP directory for the port of the invoice's company code (or of the document's ERP), so
the same steps serve every ERP; failures come as the ERP port's error family."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import business_error, transient_error
from activities.master_data import check_bank_account, check_purchase_orders, payee_mismatch
from activities.supplier_master import MasterDataReads
from adapters.erp_directory import ErpDirectory, UnknownCompanyCode
from adapters.erp_errors import ErpBusinessError, ErpOutcomeUnknown, ErpTransientError
from adapters.erp_port import ErpPort
from canonical.erp import OpenItem, OpenItemQuery, PaymentBlock, PostedInvoice
from canonical.invoice import Invoice
from canonical.keys import normalise_reference
from canonical.status import ErpDocument
from canonical.supplier import Supplier
from canonical.validation import PayeeClaim, PostingOutcome, PostingResult, ValidatedInvoice


def _port(erps: ErpDirectory, company_code: str) -> ErpPort:
    try:
        return erps.for_company(company_code)
    except UnknownCompanyCode as e:
        raise business_error("UnknownCompanyCode", e.message) from e


class ErpActivities:
    def __init__(self, erps: ErpDirectory, ach_companies: frozenset[str] = frozenset(),
                 master_data: MasterDataReads | None = None) -> None:
        """`ach_companies`: the company codes that pay from a NACHA account (settings' paying
        accounts), whose US suppliers may be paid by ABA routing and account number.
        `master_data`: the supplier and company-code reads (the worker's read-through cache);
        none: straight from the ERP."""
        self._erps = erps
        self._ach_companies = ach_companies
        self._master_data = master_data or MasterDataReads()

    @activity.defn
    async def validate_invoice_against_master_data(self, invoice: Invoice,
                                                   payees: list[PayeeClaim] | None = None) -> ValidatedInvoice:
        """`payees`: the accounts the invoice's e-invoices ask to be paid to, compared with the
        ERP's (a difference is reported in the result, masked, for the lifecycle's case)."""
        # The SDK decodes by type hints only when as many arguments came as the signature has:
        # a lifecycle without e-invoice payees sends the invoice alone, as it always did.
        invoice = Invoice.model_validate(invoice)
        payees = [PayeeClaim.model_validate(p) for p in payees] if payees else None
        erp = _port(self._erps, invoice.company_code)
        try:
            company = await self._master_data.company_code(erp, invoice.company_code, invoice.currency)
            supplier = await self._master_data.supplier(erp, invoice.supplier_id,
                                                        lambda cached: self._passes(cached, invoice, payees))
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable while reading master data: {e}", e.retry_after) from e
        if company is None:
            raise business_error("UnknownCompanyCode", f"company code {invoice.company_code} is not known to finsync")
        if not company.accepts(invoice.currency):
            raise business_error(
                "CurrencyNotAllowed",
                f"company code {company.company_code} pays in {company.currency}, the invoice is in {invoice.currency}",
            )
        if supplier is None:
            raise business_error("UnknownSupplier", f"supplier {invoice.supplier_id} does not exist in the ERP")
        if supplier.is_blocked:
            raise business_error("SupplierBlocked", f"supplier {supplier.supplier_id} ({supplier.name}) is blocked")
        account = check_bank_account(supplier, invoice.bank_account_id, invoice.company_code in self._ach_companies)
        await check_purchase_orders(erp, invoice)
        problems = erp.postability_problems(invoice)
        if problems:
            raise business_error("NotPostableInErp", "; ".join(problems))
        return ValidatedInvoice(supplier_name=supplier.name, bank_account=account,
                                payee_mismatch=payee_mismatch(supplier, account, payees) if payees else None)

    def _passes(self, supplier: Supplier, invoice: Invoice, payees: list[PayeeClaim] | None) -> bool:
        """Whether the invoice passes the supplier checks above against this (cached) supplier."""
        if supplier.is_blocked:
            return False
        try:
            account = check_bank_account(supplier, invoice.bank_account_id, invoice.company_code in self._ach_companies)
        except ApplicationError:
            return False
        return not payees or payee_mismatch(supplier, account, payees) is None

    @activity.defn
    async def post_supplier_invoice(self, invoice: Invoice) -> PostingResult:
        """Exactly once: the ERP accepts the same invoice twice, so look it up by supplier and
        reference first. Only a POST with no answer is reported as unknown; the workflow then
        waits long enough for the ERP to finish before it calls this again (which looks first)."""
        erp = _port(self._erps, invoice.company_code)
        existing = await self._find(erp, invoice)
        if existing is not None:
            return PostingResult(outcome=PostingOutcome.ALREADY_POSTED, posted=existing)
        try:
            posted = await erp.post_supplier_invoice(invoice)
        except ErpOutcomeUnknown as e:
            activity.logger.warning("ERP post of %s has no answer: %s", invoice.key, e)
            return PostingResult(outcome=PostingOutcome.OUTCOME_UNKNOWN)
        except ErpTransientError as e:
            raise transient_error(f"ERP refused the post for now: {e}", e.retry_after) from e
        except ErpBusinessError as e:
            raise business_error("ErpRejectedPosting", f"the ERP refused the invoice: {e.message}") from e
        return PostingResult(outcome=PostingOutcome.POSTED, posted=posted)

    async def _find(self, erp: ErpPort, invoice: Invoice) -> PostedInvoice | None:
        reference = normalise_reference(invoice.supplier_invoice_ref)
        try:
            found = await erp.find_supplier_invoices(invoice.supplier_id, reference)
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable for the duplicate check: {e}", e.retry_after) from e
        # Per company code (the lifecycle's business key is company + supplier + reference): the
        # same supplier may bill the same reference to two of our entities, one ERP or two.
        found = [p for p in found if p.company_code == invoice.company_code]
        if not found:
            return None
        if len(found) > 1:
            docs = ", ".join(p.erp_document.invoice_document for p in found)
            raise business_error(
                "DuplicateReferenceConflict",
                f"the ERP already holds {len(found)} invoices {reference} of supplier {invoice.supplier_id}: {docs}"
            )
        doc = found[0]
        if ((doc.gross_amount, doc.currency, doc.company_code)
                != (invoice.gross_amount, invoice.currency, invoice.company_code)):
            raise business_error(
                "DuplicateReferenceConflict",
                f"the ERP already holds invoice {reference} of supplier {invoice.supplier_id} as document "
                f"{doc.erp_document.invoice_document} for {doc.gross_amount} {doc.currency} in {doc.company_code}; "
                f"this one is for {invoice.gross_amount} {invoice.currency} in {invoice.company_code}",
            )
        return doc

    @activity.defn
    async def set_payment_block(self, block: PaymentBlock) -> None:
        try:
            await self._erps.for_document(block.erp_document).set_payment_block(block.erp_document, block.reason)
        except (ErpTransientError, ErpOutcomeUnknown) as e:  # setting one value twice is harmless
            raise transient_error(f"ERP unavailable for the payment block: {e}", getattr(e, "retry_after", None)) from e
        except ErpBusinessError as e:
            raise business_error("ErpRejectedPaymentBlock", e.message) from e

    @activity.defn
    async def release_payment_run_claim(self, doc: ErpDocument) -> None:
        """After a rejection or return: the next run must be able to claim the invoice."""
        try:  # whichever run claimed it: the lifecycle knows its document, not the run's ERP id
            await self._erps.for_document(doc).release_from_payment_run([doc], None)
        except (ErpTransientError, ErpOutcomeUnknown) as e:  # blanking a field twice is harmless
            raise transient_error(f"ERP unavailable to release the payment-run claim: {e}",
                                  getattr(e, "retry_after", None)) from e

    @activity.defn
    async def read_open_item(self, query: OpenItemQuery) -> OpenItem | None:
        try:
            item = await self._erps.for_document(query.erp_document).open_item(query.erp_document, query.company_code)
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable for the open item: {e}", e.retry_after) from e
        return item
