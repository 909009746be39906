"""SAP S/4HANA behind the ERP port (adapters/erp_port.py): one facade over the SAP adapters
(SapClient's OData reads and posting, SapPayments' open items and FINSTA01 statements,
SapRunClaims' `$batch` claims, SapClearing's clearing reads, SapGoodsReceipts, SapVendors),
sharing one SapClient (one CSRF cache, one error mapping). SAP's own keys stay here: payment
block keys, the fiscal year of a document, F110's 6-character run id."""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from adapters.finsta import build_finsta01
from adapters.sap import SapClient
from adapters.sap_clearing import MAX_REFERENCE, SapClearing
from adapters.sap_goods_receipts import SapGoodsReceipts
from adapters.sap_payments import SapPayments, StatementPosting
from adapters.sap_reconciliation import erp_supplier_items
from adapters.sap_run_claims import SapRunClaims
from adapters.sap_vendors import SapVendors, SupplierDelta
from canonical.bank import BankStatement, StatementEntry
from canonical.duplicates import OtherInvoice
from canonical.erp import ItemClearing, OpenItem, PaymentBlockReason, PostedInvoice, PurchaseOrder
from canonical.invoice import Invoice
from canonical.reconciliation import ErpItem
from canonical.status import ErpDocument
from canonical.supplier import CompanyCode, Supplier, SupplierBankAccount

if TYPE_CHECKING:
    from settings import Settings

# SAP's payment block keys (PaymentBlockingReason) for finsync's reasons; a key sent as it is
# (a lifecycle that asked before there were reasons) goes to SAP unchanged.
BLOCK_KEYS = {PaymentBlockReason.CANCELLED.value: "R", PaymentBlockReason.BANK_DETAILS.value: "B"}


class SapErp:
    kind = "sap"

    def __init__(self, sap: SapClient, name: str = "sap") -> None:
        self.name = name
        self.client = sap  # for SAP-only reads outside the port (tests, the CLI's checks)
        self._payments, self._claims = SapPayments(sap), SapRunClaims(sap)
        self._clearing, self._receipts, self._vendors = SapClearing(sap), SapGoodsReceipts(sap), SapVendors(sap)

    @classmethod
    def from_settings(cls, s: "Settings", name: str = "sap") -> "SapErp":
        return cls(SapClient.from_settings(s), name)

    async def __aenter__(self) -> "SapErp":
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.__aexit__(*exc)

    def _ours(self, doc: ErpDocument) -> ErpDocument:
        return doc if doc.erp == self.name else doc.model_copy(update={"erp": self.name})

    # -- master data -------------------------------------------------------------------------
    async def get_supplier(self, supplier_id: str) -> Supplier | None:
        return await self.client.get_supplier(supplier_id)

    async def get_company_code(self, company_code: str) -> CompanyCode | None:
        return await self.client.get_company_code(company_code)

    async def get_purchase_order(self, po_number: str) -> PurchaseOrder | None:
        return await self.client.get_purchase_order(po_number)

    async def received_quantities(self, po_number: str) -> dict[str, Decimal]:
        return await self._receipts.received_quantities(po_number)

    # -- posting -------------------------------------------------------------------------------
    async def find_supplier_invoices(self, supplier_id: str, reference: str) -> list[PostedInvoice]:
        return [self._named(p) for p in await self.client.find_supplier_invoices(supplier_id, reference)]

    async def invoices_of_amount(self, supplier_id: str, company_code: str, amount: Decimal, currency: str,
                                 ) -> list[OtherInvoice]:
        return await self.client.invoices_of_amount(supplier_id, company_code, amount, currency)

    def postability_problems(self, invoice: Invoice) -> list[str]:
        return self.client.postability_problems(invoice)

    async def post_supplier_invoice(self, invoice: Invoice) -> PostedInvoice:
        return self._named(await self.client.post_supplier_invoice(invoice))

    async def set_payment_block(self, doc: ErpDocument, reason: str) -> None:
        await self.client.set_payment_block(doc, BLOCK_KEYS.get(reason, reason))

    def _named(self, posted: PostedInvoice) -> PostedInvoice:
        return posted.model_copy(update={"erp_document": self._ours(posted.erp_document)})

    # -- payment -------------------------------------------------------------------------------
    async def claim_for_payment_run(self, docs: list[ErpDocument], run_id: str, run_date: date,
                                    alive: Callable[[], None] | None = None) -> dict[str, str | None]:
        return await self._claims.claim(docs, run_id, run_date, alive=alive or (lambda: None))

    async def release_from_payment_run(self, docs: list[ErpDocument], run_id: str | None) -> int:
        if run_id is not None:
            return await self._claims.release(docs, run_id)
        for doc in docs:  # whichever run claimed it; blanking the fields twice is harmless
            await self._payments.release_from_payment_run(doc)
        return len(docs)

    async def open_item(self, doc: ErpDocument, company_code: str) -> OpenItem | None:
        return await self._payments.open_item(doc, company_code)

    # -- bank statement --------------------------------------------------------------------------
    async def ready_for_statement(self) -> None:
        await self._payments.ready_for_statement()

    async def post_bank_statement(self, statement: BankStatement) -> StatementPosting:
        return await self._payments.post_bank_statement(statement)

    def left_out(self, statement: BankStatement) -> list[tuple[StatementEntry, str]]:
        return [(left.entry, left.reason) for left in build_finsta01(statement).left_out]

    async def clearing_states(self, accounting_documents: list[str]) -> dict[str, list[ItemClearing]]:
        return await self._clearing.supplier_items(accounting_documents)

    async def cleared_by_statement(self, item: ItemClearing, statement_number: str) -> bool:
        # SAP writes the statement number (BGMREF) as ReferenceDocument of the payment document
        # a FINSTA01 posts, cut to XBLNR's 16 characters.
        reference = await self._clearing.document_reference(
            item.clearing_document, item.company_code, item.clearing_fiscal_year or item.fiscal_year)
        return reference == statement_number[:MAX_REFERENCE]

    async def supplier_items(self, company_code: str, cleared_since: date) -> list[ErpItem]:
        return await erp_supplier_items(self.client, company_code, cleared_since)

    # -- vendor master feed ---------------------------------------------------------------------
    async def read_suppliers(self, delta_token: str | None = None) -> SupplierDelta:
        return await self._vendors.read_suppliers(delta_token)

    async def read_bank_accounts(self, changers: dict[tuple[str, str], str] | None = None,
                                 ) -> dict[str, list[SupplierBankAccount]]:
        return await self._vendors.read_bank_accounts(changers)

    async def read_vat_ids(self) -> dict[str, str] | None:
        return await self._vendors.read_vat_ids()
