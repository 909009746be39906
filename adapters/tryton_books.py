"""What the Tryton adapters read from Tryton's books, and how it maps to finsync's words.

How finsync's keys live in Tryton (adapters/tryton.py documents the whole mapping):
  * a company code is the code of the company's party (Tryton companies have no code of their own);
  * a supplier id is the supplier party's code;
  * a posted supplier invoice is an `account.invoice` of type "in"; its ErpDocument is
    (invoice_document = the invoice's number, fiscal_year = its fiscal year's name,
    accounting_document = the id of its account move). Numbers come from the company's
    invoice sequence and carry the company code, so one number names one invoice;
  * the open item is the invoice's payable move line ("lines to pay"): cleared = reconciled.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from adapters.erp_errors import ErpBusinessError
from adapters.tryton_rpc import TrytonRpc
from canonical.erp import PostedInvoice
from canonical.money import format_amount
from canonical.status import ErpDocument

INVOICE_FIELDS = ["number", "reference", "state", "total_amount", "currency.code", "company.party.code",
                  "party.code", "invoice_date", "move", "move.period.fiscalyear.name", "lines_to_pay",
                  "payment_lines", "account", "reconciled"]
LINE_FIELDS = ["maturity_date", "payment_blocked", "reconciliation", "reconciliation.rec_name", "credit", "debit",
               "move", "date", "party", "party.code"]
OPEN_STATES = ("posted", "paid")  # what a posted invoice can be (draft and validated are not posted yet)
BLOCKED = "blocked"  # Tryton's payment block is a flag on the payable line; it keeps no reason


def code_of(record: dict, path: str) -> str:
    """A value read through relations ("company.party.code" comes back as nested "company." dicts)."""
    value: Any = record
    *relations, field = path.split(".")
    for relation in relations:
        value = (value or {}).get(f"{relation}.") or {}
    return str(value.get(field) or "") if isinstance(value, dict) else ""


@dataclass(frozen=True)
class CompanyBooks:
    """The records of one company that finsync books against."""

    company_id: int
    company_code: str
    name: str
    currency: str
    country: str
    payable_account: int
    expense_account: int
    tax_account: int | None
    expense_journal: int


def document_of(invoice: dict) -> ErpDocument:
    return ErpDocument(invoice_document=invoice["number"] or f"draft-{invoice['id']}",
                       fiscal_year=code_of(invoice, "move.period.fiscalyear.name"),
                       accounting_document=str(invoice["move"] or ""))


def posted_invoice(invoice: dict, line: dict | None, run_id: str = "") -> PostedInvoice:
    return PostedInvoice(
        erp_document=document_of(invoice), company_code=code_of(invoice, "company.party.code"),
        supplier_id=code_of(invoice, "party.code"), reference=invoice["reference"] or "",
        gross_amount=invoice["total_amount"], currency=code_of(invoice, "currency.code"),
        net_due_date=line.get("maturity_date") if line else None,
        payment_block=BLOCKED if line and line.get("payment_blocked") else "", payment_run_id=run_id)


def amount_text(amount: Decimal) -> str:
    return format_amount(amount)


class TrytonBooks:
    """Reads shared by the Tryton adapters, over one TrytonRpc (one session)."""

    def __init__(self, rpc: TrytonRpc, tax_account_code: str | None = "1.2.4") -> None:
        self.rpc = rpc
        self._tax_account_code = tax_account_code
        self._companies: dict[str, CompanyBooks] = {}

    async def company(self, company_code: str) -> CompanyBooks | None:
        if company_code in self._companies:
            return self._companies[company_code]
        found = await self.rpc.search_read("company.company", [("party.code", "=", company_code)],
                                           ["party.name", "currency.code", "party.addresses"], limit=1)
        if not found:
            return None
        company = found[0]
        context = {"company": company["id"], "companies": [company["id"]]}
        config, = await self.rpc.search_read("account.configuration", [], [
            "default_account_payable", "default_category_account_expense"], limit=1, context=context)
        journals = await self.rpc.search_read("account.journal", [("type", "=", "expense")], ["id"], limit=1,
                                              context=context)
        country = await self._country((company.get("party.") or {}).get("addresses") or [])
        tax = await self.rpc.search_read(
            "account.account", [("company", "=", company["id"]), ("code", "=", self._tax_account_code)], ["id"],
            limit=1) if self._tax_account_code else []
        if not config.get("default_account_payable") or not config.get("default_category_account_expense") \
                or not journals:
            raise ErpBusinessError(409, "TRYTON/NOT_SET_UP", f"Tryton company {company_code} has no default payable "
                                   "and expense accounts or no expense journal (run python -m cli.tryton_seed)")
        books = CompanyBooks(
            company_id=company["id"], company_code=company_code, name=code_of(company, "party.name"),
            currency=code_of(company, "currency.code"), country=country, payable_account=config[
                "default_account_payable"], expense_account=config["default_category_account_expense"],
            tax_account=tax[0]["id"] if tax else None, expense_journal=journals[0]["id"])
        self._companies[company_code] = books
        return books

    async def _country(self, address_ids: list[int]) -> str:
        addresses = await self.rpc.read("party.address", address_ids[:1], ["country.code"])
        return code_of(addresses[0], "country.code") if addresses else ""

    async def party_id(self, supplier_id: str) -> int | None:
        found = await self.rpc.search_read("party.party", [("code", "=", supplier_id)], ["id"], limit=1)
        return found[0]["id"] if found else None

    async def invoices(self, domain: list, limit: int | None = None) -> list[dict]:
        return await self.rpc.search_read("account.invoice", [("type", "=", "in"), *domain], INVOICE_FIELDS,
                                          order=[("id", "ASC")], limit=limit)

    async def invoice(self, doc: ErpDocument) -> dict | None:
        """The posted invoice an ErpDocument names (by its number), or None."""
        found = await self.invoices([("number", "=", doc.invoice_document)], limit=1)
        return found[0] if found else None

    async def payable_line(self, invoice: dict) -> dict | None:
        lines = await self.rpc.read("account.move.line", list(invoice.get("lines_to_pay") or [])[:1], LINE_FIELDS)
        return lines[0] if lines else None

    async def payable_lines(self, invoices: list[dict]) -> dict[int, dict]:
        """invoice id -> its payable line, in one read."""
        first = {inv["id"]: inv["lines_to_pay"][0] for inv in invoices if inv.get("lines_to_pay")}
        lines = {line["id"]: line for line in await self.rpc.read("account.move.line", list(first.values()),
                                                                  LINE_FIELDS)}
        return {invoice_id: lines[line_id] for invoice_id, line_id in first.items() if line_id in lines}

    async def payments(self, line_ids: list[int]) -> list[dict]:
        """The payments (not failed) Tryton holds for these payable lines: a run's claims, or a
        payment someone made in Tryton itself."""
        if not line_ids:
            return []
        return await self.rpc.search_read("account.payment", [("line", "in", line_ids), ("state", "!=", "failed")],
                                          ["line", "reference", "state", "date", "journal", "number"])
