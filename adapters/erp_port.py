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

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

from canonical.bank import BankStatement, StatementEntry
from canonical.duplicates import OtherInvoice
from canonical.erp import ItemClearing, OpenItem, PostedInvoice, PurchaseOrder
from canonical.invoice import Invoice
from canonical.reconciliation import ErpItem
from canonical.status import ErpDocument
from canonical.supplier import CompanyCode, Supplier, SupplierBankAccount


@runtime_checkable
class ErpPort(Protocol):
    """One ERP instance (one SAP system, one Tryton database) serving one or more company codes."""

    #: "sap" or "tryton": which adapter family made this port (for routing checks and logs).
    kind: str
    #: The ERP instance's name in the legal entities' configuration (LegalEntity.erp); it is
    #: written into every ErpDocument this port makes, so a document finds its ERP again.
    name: str

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
                                 ) -> list[OtherInvoice]:
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
                                    alive: Callable[[], None] | None = None) -> dict[str, str | None]:
        """invoice_document -> None (claimed for this run) or why the ERP must not pay it
        (claimed by another run, cleared, blocked). Idempotent for the same run. `alive` (added
        by the erp-port part): called after each request to the ERP, the caller's heartbeat."""
        ...

    async def release_from_payment_run(self, docs: list[ErpDocument], run_id: str | None) -> int:
        """Give invoices claimed by this run back; returns how many were released. run_id None
        (added by the erp-port part): whichever run claimed them (after a rejection or a return,
        the lifecycle knows its document, not the run's ERP id)."""
        ...

    async def open_item(self, doc: ErpDocument, company_code: str) -> OpenItem | None:
        """The invoice's payable line, open or cleared; None if the ERP has none."""
        ...

    # -- bank statement -------------------------------------------------------------------------
    async def post_bank_statement(self, statement: BankStatement) -> "StatementPostingLike":
        """Post the bank statement: debits clear the invoices they pay, returns reopen them.
        At most ONCE per statement (the caller's register guarantees it)."""
        ...

    # -- added by the erp-port part: what a statement post and the reconciliation read back ------
    async def clearing_states(self, accounting_documents: list[str]) -> dict[str, list[ItemClearing]]:
        """The supplier items of these documents (ErpDocument.accounting_document), by document:
        which a statement cleared or reopened. One number may exist in several company codes or
        years, so the caller picks by amount."""
        ...

    async def cleared_by_statement(self, item: ItemClearing, statement_number: str) -> bool:
        """The ERP's own record that `item`'s clearing came from this bank statement: the
        evidence that a statement post whose answer was lost was applied (architecture invariant 4)."""
        ...

    async def supplier_items(self, company_code: str, cleared_since: date) -> list[ErpItem]:
        """The company code's supplier items, open or cleared since `cleared_since`, each joined
        to its invoice's reference: the ERP's side of the reconciliation."""
        ...


class StatementPostingLike(Protocol):
    """What a statement post reports back (adapters/sap_payments.StatementPosting for SAP)."""

    statement_number: str

    @property
    def erp_reference(self) -> str:
        """The ERP's id of the posting (SAP: the IDoc number), kept in the statement register."""
        ...

    def problems(self, statement_key: str) -> list[str]:
        """What the ERP did not apply (lines it could not clear, its findings, entries left out), in words."""
        ...


# -- optional capabilities: what only some ERPs offer; an activity checks with isinstance ------

@runtime_checkable
class GoodsReceipts(Protocol):
    """Three-way matching: quantities received per purchase-order item. An ERP without it is
    matched two-way (against the purchase order only)."""

    async def received_quantities(self, po_number: str) -> dict[str, Decimal]:
        ...


@runtime_checkable
class StatementFormat(Protocol):
    """An ERP that posts statements in a format of its own (SAP: FINSTA01 IDocs): getting ready
    before the register's claim, and the entries that format can not carry."""

    async def ready_for_statement(self) -> None:
        """Anything that may fail before the post (SAP: the CSRF token), so a failure after the
        register's claim is the post's own."""
        ...

    def left_out(self, statement: BankStatement) -> list[tuple[StatementEntry, str]]:
        """Entries the ERP would not be sent, with why (the same for every attempt)."""
        ...


@runtime_checkable
class SupplierMasterFeed(Protocol):
    """An ERP whose supplier master can be read as a change feed (vendor master sync)."""

    async def read_suppliers(self, delta_token: str | None = None) -> "SupplierDeltaLike":
        ...

    async def read_bank_accounts(self, changers: dict[tuple[str, str], str] | None = None,
                                 ) -> dict[str, list[SupplierBankAccount]]:
        ...

    async def read_vat_ids(self) -> dict[str, str] | None:
        ...


class SupplierDeltaLike(Protocol):
    """adapters/sap_vendors.SupplierDelta's shape."""

    suppliers: list[Supplier]
    deleted_ids: list[str]
    next_token: str | None
    token_used: str | None
