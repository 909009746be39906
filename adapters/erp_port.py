"""The ERP port: what finsync asks of any ERP, in finance terms (docs/architecture.md, "ERP port").

Activities depend on this Protocol, never on one ERP's client. Each ERP adapter (adapters/sap*.py
for SAP S/4HANA, adapters/tryton*.py for Tryton) implements it with plain async HTTP and no
Temporal imports, and raises only the errors of adapters/erp_errors.py (or subclasses of them),
so an activity translates one family of failures whatever the ERP.

Exactly once is the caller's design, not the ERP's (architecture invariant: no ERP is trusted to
refuse a duplicate): an activity looks a posting up by supplier + reference before it writes,
and after ErpOutcomeUnknown it looks again before anything else.

An ErpDocument is opaque to workflows: they store it, pass it back and print
`erp_document.invoice_document`; only the adapter that made it reads its parts.
"""

from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from canonical.bank import BankStatement
from canonical.erp import OpenItem, PostedInvoice, PurchaseOrder
from canonical.invoice import Invoice
from canonical.status import ErpDocument
from canonical.supplier import CompanyCode, Supplier


@runtime_checkable
class ErpPort(Protocol):
    """One ERP instance (one SAP system, one Tryton database) serving one or more company codes."""

    #: "sap" or "tryton": which adapter family made this port (for routing checks and logs).
    kind: str

    # -- master data ----------------------------------------------------------------------
    async def get_supplier(self, supplier_id: str) -> Supplier | None:
        """The supplier with its bank accounts; None when the ERP has no such supplier."""
        ...

    async def get_company_code(self, company_code: str) -> CompanyCode | None:
        ...

    async def get_purchase_order(self, po_number: str) -> PurchaseOrder | None:
        ...

    # -- posting ----------------------------------------------------------------------------
    async def find_supplier_invoices(self, supplier_id: str, reference: str) -> list[PostedInvoice]:
        """Every posted invoice of this supplier with this (normalised) reference: the lookup
        that makes a retried post safe."""
        ...

    async def invoices_of_amount(self, supplier_id: str, company_code: str, amount: Decimal, currency: str,
                                 ) -> list[PostedInvoice]:
        """The supplier's invoices of exactly this gross amount (near-duplicate search)."""
        ...

    def postability_problems(self, invoice: Invoice) -> list[str]:
        """What this ERP could not hold of the invoice (field lengths, missing keys): [] if none."""
        ...

    async def post_supplier_invoice(self, invoice: Invoice) -> PostedInvoice:
        """Post once; ErpOutcomeUnknown when the answer was lost (look it up, never re-post)."""
        ...

    async def set_payment_block(self, doc: ErpDocument, reason: str) -> None:
        """Block ("" clears) the posted invoice for payment."""
        ...

    # -- payment ------------------------------------------------------------------------------
    async def claim_for_payment_run(self, docs: list[ErpDocument], run_id: str, run_date: date,
                                    ) -> dict[str, str | None]:
        """invoice_document -> None (claimed for this run) or why the ERP must not pay it
        (claimed by another run, cleared, blocked). Idempotent for the same run."""
        ...

    async def release_from_payment_run(self, docs: list[ErpDocument], run_id: str) -> int:
        """Give invoices claimed by this run back; returns how many were released."""
        ...

    async def open_item(self, doc: ErpDocument, company_code: str) -> OpenItem | None:
        """The invoice's payable line, open or cleared; None if the ERP has none."""
        ...

    # -- bank statement -------------------------------------------------------------------------
    async def post_bank_statement(self, statement: BankStatement) -> "StatementPostingLike":
        """Post the bank statement: debits clear the invoices they pay, returns reopen them.
        At most ONCE per statement (the caller's register guarantees it)."""
        ...


class StatementPostingLike(Protocol):
    """What a statement post reports back (adapters/sap_payments.StatementPosting today)."""

    statement_number: str
