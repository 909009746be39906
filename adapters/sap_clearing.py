"""What SAP's own APIs say about the clearing of many invoices at once, and which bank
statement a payment document came from. guides/mock-sap.md §6 and §7.1.

Used after a statement post whose answer was lost, and to work out which lifecycles a
statement cleared or reopened: only SAP's own OData reads (never the mock's test listing of
IDocs), so the answer comes from the open-item cube (A_OperationalAcctgDocItemCube:
ClearingAccountingDocument, ClearingIsReversed) and the journal entry of the clearing document
(A_JournalEntry.ReferenceDocument: SAP writes the statement number, BGMREF, on the payment document a FINSTA01 posts).

Goes through SapClient's own HTTP path, as SapPayments does: one error mapping, one timeout.
"""

from decimal import Decimal

from adapters.sap import SapClient
from adapters.sap_odata import ODATA, key, literal, parse_date
from canonical.erp import ItemClearing

__all__ = ["ItemClearing", "SapClearing"]

OPEN_ITEM_SRV = f"{ODATA}/API_OPLACCTGDOCITEMCUBE_SRV"
JOURNAL_ENTRY_SRV = f"{ODATA}/API_JOURNALENTRY_SRV"
MAX_REFERENCE = 16  # BKPF-XBLNR: the statement number as SAP keeps it on the payment document
# Accounting documents per request: the filter stays well under URL limits of SAP gateways.
_PER_REQUEST = 40
_FIELDS = ("AccountingDocument,CompanyCode,FiscalYear,AccountingDocumentItem,AmountInTransactionCurrency,"
           "TransactionCurrency,ClearingAccountingDocument,ClearingDocFiscalYear,ClearingDate,ClearingIsReversed")


class SapClearing:
    def __init__(self, sap: SapClient):
        self._sap = sap

    async def supplier_items(self, accounting_documents: list[str]) -> dict[str, list[ItemClearing]]:
        """The supplier items of these accounting documents, by document; one document number
        may exist in several company codes or fiscal years, so the caller picks by amount."""
        found: dict[str, list[ItemClearing]] = {}
        unique = sorted(set(accounting_documents))
        for start in range(0, len(unique), _PER_REQUEST):
            chunk = unique[start:start + _PER_REQUEST]
            documents = " or ".join(f"AccountingDocument eq {literal(d)}" for d in chunk)
            rows, _ = await self._sap.read_all(f"{OPEN_ITEM_SRV}/A_OperationalAcctgDocItemCube", {
                "$filter": f"AccountingDocumentItemType eq 'K' and ({documents})", "$select": _FIELDS})
            for row in rows:
                found.setdefault(row["AccountingDocument"], []).append(ItemClearing(
                    accounting_document=row["AccountingDocument"], company_code=row["CompanyCode"],
                    fiscal_year=row["FiscalYear"], amount=Decimal(row["AmountInTransactionCurrency"]),
                    currency=row["TransactionCurrency"], clearing_document=row.get("ClearingAccountingDocument") or "",
                    clearing_fiscal_year=row.get("ClearingDocFiscalYear") or "",
                    clearing_date=parse_date(row.get("ClearingDate")),
                    clearing_is_reversed=bool(row.get("ClearingIsReversed"))))
        return found

    async def document_reference(self, accounting_document: str, company_code: str, fiscal_year: str) -> str | None:
        """ReferenceDocument of a journal entry (for a FINSTA payment document: the statement
        number); None if SAP has no such document."""
        entry = await self._sap._get_entity(
            f"{JOURNAL_ENTRY_SRV}/A_JournalEntry(AccountingDocument={key(accounting_document)},"
            f"CompanyCode={key(company_code)},FiscalYear={key(fiscal_year)})",
            {"$select": "AccountingDocument,ReferenceDocument"})
        return None if entry is None else entry.get("ReferenceDocument") or ""
