"""Tryton behind the ERP port (adapters/erp_port.py): one Tryton database, one or more companies.

Plain JSON-RPC (adapters/tryton_rpc.py); no proteus, no Temporal. How finsync's words map:

  company code      the code of the company's party (python -m cli.tryton_seed sets 2710)
  supplier          a party by its code; its bank accounts are the `bank.account`s it owns,
                    `bank_account_id` the account's id in four digits ("0006")
  supplier invoice  `account.invoice` type "in": one line per invoice line on the company's
                    default expense account, the tax as one manual tax line on the input-VAT
                    account, the net due date as Tryton's payment term date (no payment term,
                    so the whole amount matures on it), the normalised reference as Reference
  ErpDocument       (invoice number, fiscal year name, account move id)
  payment block     the payable line's Blocked flag (no reason is kept: reads say "blocked")
  run claim         a draft `account.payment` of the payable line (adapters/tryton_claims.py)
  open item         the payable line; cleared = reconciled
  bank statement    `account.statement` on the statement journal of our IBAN
                    (adapters/tryton_statements.py)

Exactly once: Tryton warns about a "similar" invoice (same party and reference within 60 days)
but lets a person post it anyway, so it does not refuse a duplicate. Posting is two calls
(create, then post), each its own transaction; `post_supplier_invoice` first looks for an
invoice of this company, supplier and reference, returns a posted one, and finishes a draft
left by an attempt whose answer was lost, so a retry never makes a second invoice.
"""

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from adapters.erp_errors import ErpBusinessError
from adapters.tryton_books import OPEN_STATES, TrytonBooks, code_of, document_of, posted_invoice
from adapters.tryton_claims import PAYMENT_JOURNAL, TrytonClaims
from adapters.tryton_rpc import TrytonRpc
from adapters.tryton_statements import TrytonStatementPosting, TrytonStatements
from canonical.bank import BankStatement, StatementEntry
from canonical.duplicates import OtherInvoice
from canonical.erp import ItemClearing, OpenItem, PostedInvoice, PurchaseOrder
from canonical.invoice import Invoice
from canonical.keys import normalise_reference
from canonical.reconciliation import ErpItem
from canonical.status import ErpDocument
from canonical.supplier import CompanyCode, Supplier, SupplierBankAccount

if TYPE_CHECKING:
    from settings import Settings

DRAFT_STATES = ("draft", "validated")


class TrytonErp:
    kind = "tryton"

    def __init__(self, url: str, database: str, user: str, password: str, *, name: str = "tryton",
                 timeout: float = 60.0, tax_account_code: str | None = "1.2.4",
                 payment_journal: str = PAYMENT_JOURNAL, rpc: TrytonRpc | None = None) -> None:
        self.name = name  # the ERP instance's name in the legal entities' configuration
        self.rpc = rpc or TrytonRpc(url, database, user, password, timeout=timeout)
        self._books = TrytonBooks(self.rpc, tax_account_code)
        self._statements = TrytonStatements(self._books)
        self._claims = TrytonClaims(self._books, self._statements.was_returned, payment_journal)

    @classmethod
    def from_settings(cls, s: "Settings", name: str = "tryton") -> "TrytonErp":
        if not s.tryton_url:
            raise ValueError("FINSYNC_TRYTON_URL is not set: no Tryton to connect to")
        password = s.tryton_password.get_secret_value() if s.tryton_password else ""
        return cls(s.tryton_url, s.tryton_database, s.tryton_user, password, name=name,
                   timeout=s.tryton_timeout_seconds)

    async def aclose(self) -> None:
        await self.rpc.aclose()

    async def __aenter__(self) -> "TrytonErp":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _ours(self, doc: ErpDocument) -> ErpDocument:
        # A document names the ERP instance that made it, so the ERP directory routes every
        # later call about it (block, release, open item) back here, whatever its company code.
        return doc if doc.erp == self.name else doc.model_copy(update={"erp": self.name})

    def _named(self, posted: PostedInvoice) -> PostedInvoice:
        return posted.model_copy(update={"erp_document": self._ours(posted.erp_document)})

    # -- master data -------------------------------------------------------------------------
    async def get_supplier(self, supplier_id: str) -> Supplier | None:
        found = await self.rpc.search_read("party.party", [("code", "=", supplier_id), ("active", "in", [True, False])],
                                           ["name", "active", "tax_identifier.code"], limit=1)
        if not found:
            return None
        party = found[0]
        accounts = await self.rpc.search_read("bank.account", [("owners", "=", party["id"])],
                                              ["numbers.number_compact", "numbers.type", "bank.bic"],
                                              order=[("id", "ASC")])
        return Supplier(supplier_id=supplier_id, name=party["name"], is_blocked=not party["active"],
                        vat_id=code_of(party, "tax_identifier.code") or None,
                        bank_accounts=[a for a in (_bank_account(r, party["name"]) for r in accounts) if a])

    async def get_company_code(self, company_code: str) -> CompanyCode | None:
        books = await self._books.company(company_code)
        if books is None:
            return None
        return CompanyCode(company_code=company_code, name=books.name, country=books.country or "DE",
                           currency=books.currency)

    async def get_purchase_order(self, po_number: str) -> PurchaseOrder | None:
        return None  # the purchase module is not part of this Tryton: no order to match against

    # -- posting -------------------------------------------------------------------------------
    async def find_supplier_invoices(self, supplier_id: str, reference: str) -> list[PostedInvoice]:
        invoices = await self._books.invoices([("party.code", "=", supplier_id),
                                               ("reference", "=", normalise_reference(reference)),
                                               ("state", "in", list(OPEN_STATES))])
        return await self._posted(invoices)

    async def _posted(self, invoices: list[dict]) -> list[PostedInvoice]:
        lines = await self._books.payable_lines(invoices)
        claims = {p["line"]: p["reference"] or "" for p in await self._books.payments(
            [line["id"] for line in lines.values()])}
        return [self._named(posted_invoice(i, lines.get(i["id"]), claims.get(lines.get(i["id"], {}).get("id"), "")))
                for i in invoices]

    async def invoices_of_amount(self, supplier_id: str, company_code: str, amount: Decimal, currency: str,
                                 ) -> list[OtherInvoice]:
        invoices = await self._books.invoices([
            ("party.code", "=", supplier_id), ("company.party.code", "=", company_code),
            ("currency.code", "=", currency), ("total_amount", "=", amount), ("state", "in", list(OPEN_STATES))])
        return [OtherInvoice(source="erp", document=i["number"], reference=i["reference"] or "",
                             invoice_date=i["invoice_date"], gross_amount=i["total_amount"], currency=currency,
                             status=i["state"]) for i in invoices]

    def postability_problems(self, invoice: Invoice) -> list[str]:
        problems = []
        if not normalise_reference(invoice.supplier_invoice_ref):
            problems.append("the supplier invoice reference is empty once spaces are removed")
        problems += [f"line {line.line_no} names purchase order {line.po_number}, but this Tryton books no purchase "
                     "orders (its purchase module is not activated)" for line in invoice.lines if line.po_number]
        return problems

    async def post_supplier_invoice(self, invoice: Invoice) -> PostedInvoice:
        books = await self._books.company(invoice.company_code)
        if books is None:
            raise ErpBusinessError(404, "TRYTON/NO_COMPANY", f"Tryton has no company with code {invoice.company_code}")
        party = await self.rpc.search_read("party.party", [("code", "=", invoice.supplier_id)],
                                           ["addresses", "account_payable"], limit=1)
        if not party or not party[0]["addresses"]:
            raise ErpBusinessError(404, "TRYTON/NO_SUPPLIER",
                                   f"Tryton has no supplier {invoice.supplier_id} with an address")
        reference = normalise_reference(invoice.supplier_invoice_ref)
        existing = await self._books.invoices([("company", "=", books.company_id), ("party", "=", party[0]["id"]),
                                               ("reference", "=", reference), ("state", "!=", "cancelled")])
        posted = [i for i in existing if i["state"] in OPEN_STATES]
        if posted:  # the post of an attempt whose answer was lost: it is this invoice, posted once
            return (await self._posted(posted[:1]))[0]
        drafts = [i for i in existing if i["state"] in DRAFT_STATES]
        if drafts and drafts[0]["total_amount"] != invoice.gross_amount:
            raise ErpBusinessError(409, "TRYTON/DRAFT_DIFFERS", f"Tryton holds a draft invoice {drafts[0]['id']} of "
                                   f"{invoice.supplier_id} with reference {reference} for {drafts[0]['total_amount']}, "
                                   f"not {invoice.gross_amount} {invoice.currency}")
        if drafts:
            invoice_id = drafts[0]["id"]
        else:
            values = await self._invoice_values(invoice, books.company_id, party[0], reference)
            [invoice_id] = await self.rpc.create("account.invoice", [values], context={"company": books.company_id})
        await self.rpc.button("account.invoice", "post", [invoice_id], context={"company": books.company_id})
        found = await self._books.invoices([("id", "=", invoice_id)])
        return (await self._posted(found))[0]

    async def _invoice_values(self, invoice: Invoice, company_id: int, party: dict, reference: str) -> dict[str, Any]:
        books = await self._books.company(invoice.company_code)
        assert books is not None  # the caller found it
        currency = await self.rpc.search_read("currency.currency", [("code", "=", invoice.currency)], ["id"], limit=1)
        if not currency:
            raise ErpBusinessError(422, "TRYTON/NO_CURRENCY", f"Tryton knows no currency {invoice.currency}")
        if invoice.tax_amount and books.tax_account is None:
            raise ErpBusinessError(409, "TRYTON/NOT_SET_UP", f"company {invoice.company_code} has no input-VAT account")
        lines = [{"type": "line", "account": books.expense_account, "quantity": 1, "unit_price": line.net_amount,
                  "description": line.description} for line in invoice.lines]
        taxes = [{"manual": True, "description": "Input VAT", "account": books.tax_account,
                  "base": invoice.net_amount, "amount": invoice.tax_amount}] if invoice.tax_amount else []
        return {"type": "in", "company": company_id, "party": party["id"], "invoice_address": party["addresses"][0],
                "currency": currency[0]["id"], "journal": books.expense_journal,
                "account": party.get("account_payable") or books.payable_account,
                "invoice_date": invoice.invoice_date, "payment_term_date": invoice.net_due_date,
                "reference": reference, "description": f"finsync {invoice.key}"[:200],
                "lines": [["create", lines]], "taxes": [["create", taxes]] if taxes else []}

    async def set_payment_block(self, doc: ErpDocument, reason: str) -> None:
        await self._claims.set_block(doc, bool(reason))

    # -- payment -------------------------------------------------------------------------------
    async def claim_for_payment_run(self, docs: list[ErpDocument], run_id: str, run_date: date,
                                    alive: Callable[[], None] | None = None) -> dict[str, str | None]:
        return await self._claims.claim(docs, run_id, run_date, alive)

    async def release_from_payment_run(self, docs: list[ErpDocument], run_id: str | None) -> int:
        return await self._claims.release(docs, run_id)

    async def open_item(self, doc: ErpDocument, company_code: str) -> OpenItem | None:
        return await self._claims.open_item(doc, company_code)

    # -- bank statement --------------------------------------------------------------------------
    async def ready_for_statement(self) -> None:
        await self.rpc.login()  # a refused login now is an outage, not an unknown post

    def left_out(self, statement: BankStatement) -> list[tuple[StatementEntry, str]]:
        return self._statements.left_out(statement)

    async def post_bank_statement(self, statement: BankStatement) -> TrytonStatementPosting:
        """Post it; the invoices it cleared or reopened lose their runs' claims, as SAP releases
        them itself (a reopened invoice goes to a new run with a new attempt)."""
        posting = await self._statements.post(statement)
        done = [ErpDocument(invoice_document=line.invoice_document, fiscal_year="",
                            accounting_document=line.accounting_document, erp=self.name)
                for line in [*posting.cleared, *posting.reopened]]
        await self._claims.release(done, None)
        return posting

    async def clearing_states(self, accounting_documents: list[str]) -> dict[str, list[ItemClearing]]:
        return await self._claims.clearing_states(accounting_documents)

    async def cleared_by_statement(self, item: ItemClearing, statement_number: str) -> bool:
        """Tryton's own record that the statement `statement_number` was posted with a line for
        the invoice of `item.accounting_document` (the evidence after a lost answer)."""
        return await self._statements.applied(item.accounting_document, statement_number)

    async def supplier_items(self, company_code: str, cleared_since: date) -> list[ErpItem]:
        """The company's supplier invoices, open or cleared since `cleared_since`, each with its reference."""
        invoices = await self._books.invoices([("company.party.code", "=", company_code),
                                               ("state", "in", list(OPEN_STATES))])
        lines = await self._books.payable_lines(invoices)
        items = []
        for invoice in invoices:
            line = lines.get(invoice["id"])
            posted = posted_invoice(invoice, line)
            cleared = bool(line and line.get("reconciliation"))
            if cleared and (invoice.get("reconciled") or cleared_since) < cleared_since:
                continue  # Tryton's "Reconciled" date: when the last of its payable lines was cleared
            items.append(ErpItem(accounting_document=document_of(invoice).accounting_document,
                                 fiscal_year=document_of(invoice).fiscal_year, company_code=company_code,
                                 supplier_id=posted.supplier_id, reference=posted.reference, amount=posted.gross_amount,
                                 currency=posted.currency, payment_block=posted.payment_block,
                                 clearing_document=code_of(line or {}, "reconciliation.rec_name") if cleared else "",
                                 clearing_date=invoice.get("reconciled") if cleared else None))
        return items


def _bank_account(row: dict, holder: str) -> SupplierBankAccount | None:
    numbers = row.get("numbers.") or []
    iban = next((n["number_compact"] for n in numbers if n.get("type") == "iban"), None)
    other = next((n["number_compact"] for n in numbers if n.get("type") != "iban"), None)
    if not iban and not other:
        return None
    return SupplierBankAccount(bank_account_id=f"{row['id']:04d}", country=(iban or "")[:2] or "DE",
                               holder_name=holder, iban=iban, bic=code_of(row, "bank.bic") or None,
                               account_number=None if iban else other)
