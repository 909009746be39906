"""A payment run's claim on Tryton invoices, and the invoice's open item.

Tryton has no payment-run field on an invoice. Its own word for "this payable is being paid" is
an `account.payment` on the payable move line: while one that has not failed exists, Tryton's
open payment amount of the line is zero, so nobody pays it again from Tryton. A run's claim is
therefore a *draft* payment of the line in the payment journal finsync owns ("finsync payment
runs", manual process method), its Reference the run id and its Date the run date. Releasing
deletes that draft. The payment stays a draft: the money moves through finsync's bank file, and
clearing comes from the bank statement (adapters/tryton_statements.py), not from the payment.

Tryton's payment block is the line's "Blocked" flag; blocking a line deletes its draft payments
(Tryton's own rule), so a block also takes a run's claim off the invoice.
"""

from collections.abc import Awaitable, Callable
from datetime import date

from adapters.erp_errors import ErpBusinessError
from adapters.tryton_books import BLOCKED, TrytonBooks, code_of
from canonical.erp import ItemClearing, OpenItem
from canonical.status import ErpDocument

PAYMENT_JOURNAL = "finsync payment runs"


class TrytonClaims:
    def __init__(self, books: TrytonBooks, returned: Callable[[str], Awaitable[bool]],
                 payment_journal: str = PAYMENT_JOURNAL) -> None:
        self._books, self._rpc = books, books.rpc
        self._returned = returned  # invoice number -> a posted statement returned a payment of it
        self._journal_name = payment_journal
        self._journals: dict[int, int] = {}  # company id -> payment journal id

    async def _journal(self, company_id: int) -> int:
        if company_id not in self._journals:
            found = await self._rpc.search_read("account.payment.journal", [
                ("name", "=", self._journal_name), ("company", "=", company_id)], ["id"], limit=1)
            if not found:
                raise ErpBusinessError(409, "TRYTON/NOT_SET_UP", f"Tryton has no payment journal "
                                       f"{self._journal_name!r} for company {company_id} (python -m cli.tryton_seed)")
            self._journals[company_id] = found[0]["id"]
        return self._journals[company_id]

    async def claim(self, docs: list[ErpDocument], run_id: str, run_date: date,
                    alive: Callable[[], None] | None = None) -> dict[str, str | None]:
        """invoice document -> None (claimed for this run) or why Tryton must not pay it.
        Claiming again for the same run writes nothing; a refused invoice loses this run's claim."""
        outcome: dict[str, str | None] = {}
        for doc in docs:
            outcome[doc.invoice_document] = await self._claim_one(doc, run_id, run_date)
            if alive:
                alive()
        return outcome

    async def _claim_one(self, doc: ErpDocument, run_id: str, run_date: date) -> str | None:
        name = f"invoice {doc.invoice_document}"
        invoice = await self._books.invoice(doc)
        if invoice is None:
            return f"{name} does not exist in Tryton"
        line = await self._books.payable_line(invoice)
        if line is None:
            return f"{name} has no payable line to pay"
        company_id = (invoice.get("company.") or {}).get("id")
        journal = await self._journal(int(company_id or 0))
        payments = await self._books.payments([line["id"]])
        ours = [p for p in payments if p["journal"] == journal and p["reference"] == run_id]
        others = [p for p in payments if p not in ours]
        refusal = None
        if others:
            other = others[0]
            refusal = (f"{name} is already in payment run {other['reference']}" if other["journal"] == journal
                       else f"{name} has Tryton payment {other['number']} ({other['state']})")
        elif line.get("reconciliation"):
            refusal = f"{name} was cleared by reconciliation {code_of(line, 'reconciliation.rec_name')}"
        elif invoice["state"] != "posted":
            refusal = f"{name} is {invoice['state']} in Tryton"
        elif line.get("payment_blocked"):
            refusal = f"{name} is payment-blocked in Tryton"
        if refusal is not None:
            await self._rpc.delete("account.payment", [p["id"] for p in ours if p["state"] == "draft"])
            return refusal
        if not ours:
            await self._rpc.create("account.payment", [{
                "company": company_id, "journal": journal, "kind": "payable", "party": line["party"],
                "line": line["id"], "amount": line["credit"] - line["debit"], "date": run_date, "reference": run_id}])
        return None

    async def release(self, docs: list[ErpDocument], run_id: str | None) -> int:
        """Delete the draft claims of `run_id` (None: of whichever run) on these invoices."""
        released = 0
        for doc in docs:
            invoice = await self._books.invoice(doc)
            line = await self._books.payable_line(invoice) if invoice else None
            if line is None:
                continue
            company_id = int((invoice or {}).get("company.", {}).get("id") or 0)
            journal = await self._journal(company_id)
            drafts = [p["id"] for p in await self._books.payments([line["id"]])
                      if p["journal"] == journal and p["state"] == "draft" and run_id in (None, p["reference"])]
            await self._rpc.delete("account.payment", drafts)
            released += bool(drafts)
        return released

    async def set_block(self, doc: ErpDocument, blocked: bool) -> None:
        invoice = await self._books.invoice(doc)
        line = await self._books.payable_line(invoice) if invoice else None
        if line is None:
            raise ErpBusinessError(404, "TRYTON/NOT_FOUND", f"invoice {doc.invoice_document} has no payable line")
        if bool(line.get("payment_blocked")) != blocked:
            await self._rpc.button("account.move.line", "payment_block" if blocked else "payment_unblock", [line["id"]])

    async def open_item(self, doc: ErpDocument, company_code: str) -> OpenItem | None:
        """The payable line of the invoice: cleared while it is reconciled; `clearing_is_reversed`
        when it is open again after a statement returned its payment (adapters/tryton_statements.py)."""
        invoice = await self._books.invoice(doc)
        line = await self._books.payable_line(invoice) if invoice else None
        if invoice is None or line is None:
            return None
        company_id = int((invoice.get("company.") or {}).get("id") or 0)
        journal = await self._journal(company_id)
        claims = [p for p in await self._books.payments([line["id"]]) if p["journal"] == journal]
        reconciliation = line.get("reconciliation")
        clearing_date = None
        if reconciliation:
            others = await self._rpc.search_read("account.move.line", [
                ("reconciliation", "=", reconciliation), ("id", "!=", line["id"])], ["date"])
            clearing_date = max((o["date"] for o in others), default=None)
        reversed_ = not reconciliation and await self._returned(invoice["number"])
        return OpenItem(
            accounting_document=str(invoice["move"]), company_code=company_code or code_of(
                invoice, "company.party.code"), fiscal_year=code_of(invoice, "move.period.fiscalyear.name"),
            supplier_id=code_of(invoice, "party.code"), amount=line["credit"] - line["debit"],
            currency=code_of(invoice, "currency.code"), net_due_date=line.get("maturity_date"),
            payment_block=BLOCKED if line.get("payment_blocked") else "",
            payment_run_id=claims[0]["reference"] if claims else "",
            payment_run_date=claims[0]["date"] if claims else None,
            clearing_document=code_of(line, "reconciliation.rec_name") if reconciliation else "",
            clearing_date=clearing_date, clearing_is_reversed=reversed_)

    async def clearing_states(self, accounting_documents: list[str]) -> dict[str, list[ItemClearing]]:
        """The payable line of each invoice whose account move is one of `accounting_documents`,
        by move id: cleared while reconciled, reversed when a posted statement returned its
        payment and it is open again (what a statement post reads back, architecture invariant 4)."""
        moves = sorted({int(d) for d in accounting_documents if d.isdigit()})
        invoices = await self._books.invoices([("move", "in", moves)]) if moves else []
        lines = await self._books.payable_lines(invoices)
        reconciliations = sorted({line["reconciliation"] for line in lines.values() if line.get("reconciliation")})
        # Cleared on the date of the lines that cleared it (the statement's), as open_item says:
        # Tryton's own reconciliation date is the latest maturity, the invoice's due date.
        dates: dict[int, date] = {}
        for other in await self._rpc.search_read("account.move.line", [
                ("reconciliation", "in", reconciliations), ("id", "not in", [line["id"] for line in lines.values()])],
                ["reconciliation", "date"]) if reconciliations else []:
            dates[other["reconciliation"]] = max(other["date"], dates.get(other["reconciliation"], other["date"]))
        found: dict[str, list[ItemClearing]] = {}
        for invoice in invoices:
            line = lines.get(invoice["id"])
            if line is None:
                continue
            reconciliation = line.get("reconciliation")
            document = str(invoice["move"])
            found.setdefault(document, []).append(ItemClearing(
                accounting_document=document, company_code=code_of(invoice, "company.party.code"),
                fiscal_year=code_of(invoice, "move.period.fiscalyear.name"), amount=line["credit"] - line["debit"],
                currency=code_of(invoice, "currency.code"),
                clearing_document=code_of(line, "reconciliation.rec_name") if reconciliation else "",
                clearing_date=dates.get(reconciliation) if reconciliation else None,
                clearing_is_reversed=not reconciliation and await self._returned(invoice["number"])))
        return found
