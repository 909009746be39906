"""ERP activities: validate against master data, post exactly once, block payment."""

from temporalio import activity

from activities.errors import business_error, transient_error
from activities.master_data import check_bank_account, check_purchase_orders, payee_mismatch
from adapters.sap import SapBusinessError, SapClient, SapOutcomeUnknown, SapTransientError
from adapters.sap_payments import SapPayments
from canonical.erp import OpenItem, OpenItemQuery, PaymentBlock, PostedInvoice
from canonical.invoice import Invoice
from canonical.keys import normalise_reference
from canonical.status import ErpDocument
from canonical.validation import PayeeClaim, PostingOutcome, PostingResult, ValidatedInvoice


class ErpActivities:
    def __init__(self, sap: SapClient, ach_companies: frozenset[str] = frozenset()) -> None:
        """`ach_companies`: the company codes that pay from a NACHA account (settings' paying
        accounts), whose US suppliers may be paid by ABA routing and account number."""
        self._sap = sap
        self._payments = SapPayments(sap)
        self._ach_companies = ach_companies

    @activity.defn
    async def validate_invoice_against_master_data(self, invoice: Invoice,
                                                   payees: list[PayeeClaim] | None = None) -> ValidatedInvoice:
        """`payees`: the accounts the invoice's e-invoices ask to be paid to, compared with the
        ERP's (a difference is reported in the result, masked, for the lifecycle's case)."""
        # The SDK decodes by type hints only when as many arguments came as the signature has:
        # a lifecycle without e-invoice payees sends the invoice alone, as it always did.
        invoice = Invoice.model_validate(invoice)
        payees = [PayeeClaim.model_validate(p) for p in payees] if payees else None
        try:
            company = await self._sap.get_company_code(invoice.company_code)
            supplier = await self._sap.get_supplier(invoice.supplier_id)
        except SapTransientError as e:
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
        await check_purchase_orders(self._sap, invoice)
        problems = self._sap.postability_problems(invoice)
        if problems:
            raise business_error("NotPostableInErp", "; ".join(problems))
        return ValidatedInvoice(supplier_name=supplier.name, bank_account=account,
                                payee_mismatch=payee_mismatch(supplier, account, payees) if payees else None)

    @activity.defn
    async def post_supplier_invoice(self, invoice: Invoice) -> PostingResult:
        """Exactly once: the ERP accepts the same invoice twice, so look it up by supplier and
        reference first. Only a POST with no answer is reported as unknown; the workflow then
        waits long enough for the ERP to finish before it calls this again (which looks first)."""
        existing = await self._find(invoice)
        if existing is not None:
            return PostingResult(outcome=PostingOutcome.ALREADY_POSTED, posted=existing)
        try:
            posted = await self._sap.post_supplier_invoice(invoice)
        except SapOutcomeUnknown as e:
            activity.logger.warning("ERP post of %s has no answer: %s", invoice.key, e)
            return PostingResult(outcome=PostingOutcome.OUTCOME_UNKNOWN)
        except SapTransientError as e:
            raise transient_error(f"ERP refused the post for now: {e}", e.retry_after) from e
        except SapBusinessError as e:
            raise business_error("ErpRejectedPosting", f"the ERP refused the invoice: {e.message}") from e
        return PostingResult(outcome=PostingOutcome.POSTED, posted=posted)

    async def _find(self, invoice: Invoice) -> PostedInvoice | None:
        reference = normalise_reference(invoice.supplier_invoice_ref)
        try:
            found = await self._sap.find_supplier_invoices(invoice.supplier_id, reference)
        except SapTransientError as e:
            raise transient_error(f"ERP unavailable for the duplicate check: {e}", e.retry_after) from e
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
            await self._sap.set_payment_block(block.erp_document, block.reason)
        except (SapTransientError, SapOutcomeUnknown) as e:  # setting one value twice is harmless
            raise transient_error(f"ERP unavailable for the payment block: {e}", getattr(e, "retry_after", None)) from e
        except SapBusinessError as e:
            raise business_error("ErpRejectedPaymentBlock", e.message) from e

    @activity.defn
    async def release_payment_run_claim(self, doc: ErpDocument) -> None:
        """After a rejection or return: the next run must be able to claim the invoice."""
        try:
            await self._payments.release_from_payment_run(doc)
        except (SapTransientError, SapOutcomeUnknown) as e:  # blanking a field twice is harmless
            raise transient_error(f"ERP unavailable to release the payment-run claim: {e}",
                                  getattr(e, "retry_after", None)) from e

    @activity.defn
    async def read_open_item(self, query: OpenItemQuery) -> OpenItem | None:
        try:
            item = await self._payments.open_item(query.erp_document, query.company_code)
        except SapTransientError as e:
            raise transient_error(f"ERP unavailable for the open item: {e}", e.retry_after) from e
        return item
