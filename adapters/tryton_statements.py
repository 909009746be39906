"""A bank statement (camt.053) posted to Tryton as an `account.statement` on the statement
journal of our IBAN: payments clear the invoices they pay, returns reopen them.

Only entries finsync can attribute become lines (as for SAP, adapters/finsta.py): a debit that
is our payment of one invoice, or a credit that returns one. An entry finsync's inbox passes on
names our document (StatementEntry.erp_document: the invoice's account move, from the payment
register by the EndToEndId we sent), and only that invoice is matched. Without it the bank's
reference names the invoice by its Tryton number; a reference that is a supplier's own invoice
reference is used only when exactly one invoice of the company carries it for that amount, so
two suppliers' equal references never clear each other's invoices (reported, not guessed).

  payment  a line of minus the amount, related to the invoice: validating the statement
           reconciles the invoice's payable line with it (Tryton marks the invoice paid);
  return   a line of plus the amount on the invoice's payable account; once the statement is
           posted, the invoice's reconciliation is undone (the invoice is open again) and the
           payment's line is reconciled with the return's line instead, so the books show both.

Each line's description names what it does and the invoice ("payment SI2710-2026-00001 ...");
the outcome is read back from those lines, which is also how a statement that stopped between
its steps is finished and how `applied` answers after a lost answer. Tryton does not refuse a
second statement of the same number, so the adapter does: one statement per journal and number.
The statement is validated by amount: the journal checks that the lines add up to the total
finsync sends (the bank's balances are checked by finsync before it posts).
"""

from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from adapters.erp_errors import ErpBusinessError
from adapters.finsta import StatementNotPostable, statement_number
from adapters.tryton_books import OPEN_STATES, TrytonBooks, code_of
from canonical.bank import (
    BankStatement,
    MessageKind,
    StatementEntry,
    attribution_problem,  # Tryton holds a reference of any length
    describe_left_out,
)
from canonical.keys import normalise_reference
from canonical.masking import mask_bank_details
from canonical.money import Money

PAYMENT, RETURN = "payment", "return"


class TrytonLine(BaseModel):
    line: str  # the statement line's number: the entry's position in the bank statement
    reference: str = ""
    end_to_end_id: str | None = None
    entry_reference: str | None = None
    invoice_document: str = ""
    accounting_document: str = ""
    clearing_document: str = ""  # the reconciliation that cleared (or, for a return, matched) it
    amount: Money = Decimal(0)


class TrytonUnprocessed(BaseModel):
    line: str
    reference: str = ""
    end_to_end_id: str | None = None
    reason: str


class TrytonStatementPosting(BaseModel):
    statement_number: str
    account: str  # masked
    tryton_statement: str = ""  # "account.statement,<id>"; "" when no entry became a line
    cleared: list[TrytonLine] = []
    reopened: list[TrytonLine] = []
    unprocessed: list[TrytonUnprocessed] = []
    left_out: list[tuple[StatementEntry, str]] = []
    findings: list[str] = []
    message: str = ""

    @property
    def erp_reference(self) -> str:
        return self.tryton_statement or f"nothing posted ({len(self.unprocessed)} entries not attributable)"

    def problems(self, statement_key: str) -> list[str]:
        problems = [f"statement {statement_key} line {u.line} ({u.reference or 'no reference'}): {u.reason}"
                    for u in self.unprocessed]
        problems += [f"statement {statement_key}: {finding}" for finding in self.findings]
        return problems + describe_left_out(statement_key, self.left_out)




class TrytonStatements:
    def __init__(self, books: TrytonBooks) -> None:
        self._books, self._rpc = books, books.rpc

    def left_out(self, statement: BankStatement) -> list[tuple[StatementEntry, str]]:
        return [(e, why) for e in statement.entries if (why := attribution_problem(e)) is not None]

    async def post(self, statement: BankStatement) -> TrytonStatementPosting:
        if statement.kind != MessageKind.STATEMENT:
            raise StatementNotPostable(f"message {statement.message_id} is a {statement.kind}, not a camt.053")
        number = statement_number(statement)
        journal = await self._journal(statement.account_iban)
        posting = TrytonStatementPosting(statement_number=number, account=mask_bank_details(statement.account_iban),
                                         left_out=self.left_out(statement))
        existing = await self._rpc.search_read("account.statement", [
            ("journal", "=", journal["id"]), ("name", "=", number), ("state", "!=", "cancelled")], ["state"])
        if any(s["state"] == "posted" for s in existing):
            raise ErpBusinessError(409, "TRYTON/STATEMENT_POSTED", f"Tryton already holds statement {number} of "
                                   f"{posting.account}: it is never posted twice")
        context = {"company": journal["company"]}
        await self._rpc.delete("account.statement", [s["id"] for s in existing if s["state"] == "draft"])
        resumed = [s["id"] for s in existing if s["state"] == "validated"]
        if resumed:  # an attempt that stopped after validating: its lines are the plan
            statement_id = resumed[0]
        else:
            lines = await self._plan(statement, journal["company"], posting)
            if not lines:
                posting.message = "no entry of the statement is a payment of ours or its return"
                return posting
            [statement_id] = await self._rpc.create("account.statement", [{
                "company": journal["company"], "journal": journal["id"], "name": number,
                "date": _day(statement), "total_amount": sum((v["amount"] for v in lines), Decimal(0)),
                "lines": [["create", lines]]}], context=context)
            await self._rpc.button("account.statement", "validate_statement", [statement_id], context=context)
        await self._rpc.button("account.statement", "post", [statement_id], context=context)
        posting.tryton_statement = f"account.statement,{statement_id}"
        await self._outcome(statement_id, statement, posting)
        posting.message = (f"{len(posting.cleared)} cleared, {len(posting.reopened)} reopened, "
                           f"{len(posting.unprocessed)} not applied")
        return posting

    async def _journal(self, iban: str) -> dict:
        found = await self._rpc.search_read("account.statement.journal", [
            ("bank_account.numbers.number_compact", "=", iban.replace(" ", "").upper())], ["company"], limit=1)
        if not found:
            raise ErpBusinessError(404, "TRYTON/NO_STATEMENT_JOURNAL",
                                   f"Tryton has no statement journal for account {mask_bank_details(iban)}")
        return found[0]

    async def _match(self, entry: StatementEntry, company_id: int) -> tuple[dict | None, str]:
        """The invoice an entry pays or returns, or why none can be named. Our own document
        first: the payment register's account move for the EndToEndId finsync sent, so only the
        invoice the payment was for can be cleared by it (two suppliers' equal references never
        decide); then the bank's reference as Tryton's invoice number, or as a supplier's
        reference that exactly one invoice of this amount carries."""
        if entry.erp_document:
            by_move = await self._books.invoices([("company", "=", company_id), ("move", "=", int(
                entry.erp_document))], limit=1) if entry.erp_document.isdigit() else []
            if by_move:
                return by_move[0], ""
            return None, f"our document {entry.erp_document} is no invoice of this company in Tryton"
        reference = (entry.remittance_reference or "").strip()
        by_number = await self._books.invoices([("company", "=", company_id), ("number", "=", reference)], limit=1)
        if by_number:
            return by_number[0], ""
        candidates = await self._books.invoices([
            ("company", "=", company_id), ("reference", "=", normalise_reference(reference)),
            ("total_amount", "=", entry.amount), ("state", "in", list(OPEN_STATES))])
        if len(candidates) == 1:
            return candidates[0], ""
        if candidates:
            suppliers = sorted({code_of(c, "party.code") for c in candidates})
            return None, (f"{len(candidates)} invoices (suppliers {', '.join(suppliers)}) carry reference "
                          f"{reference} for {entry.amount}: the bank's reference does not say which one was paid")
        return None, f"no invoice of this company has number or reference {reference} for {entry.amount}"

    async def _plan(self, statement: BankStatement, company_id: int, posting: TrytonStatementPosting) -> list[dict]:
        lines: list[dict] = []
        used: set[int] = set()
        for position, entry in enumerate(statement.entries, start=1):
            if attribution_problem(entry) is not None:
                continue
            invoice, why = await self._match(entry, company_id)
            is_return = entry.direction == "CRDT"
            if invoice is not None:
                why = _refusal(invoice, entry, is_return, used)
            if invoice is None or why:
                posting.unprocessed.append(TrytonUnprocessed(line=str(position), reference=entry.remittance_reference
                                                             or "", end_to_end_id=entry.end_to_end_id, reason=why))
                continue
            used.add(invoice["id"])
            kind = RETURN if is_return else PAYMENT
            line = {"number": str(position), "date": entry.booking_date or _day(statement),
                    "amount": entry.amount if is_return else -entry.amount, "party": invoice["party."]["id"],
                    "account": invoice["account"],
                    "description": f"{kind} {invoice['number']} entry {position} "
                                   f"{entry.end_to_end_id or entry.entry_reference or ''}".strip()}
            if not is_return:
                line["related_to"] = f"account.invoice,{invoice['id']}"
            lines.append(line)
        return lines

    async def _outcome(self, statement_id: int, statement: BankStatement, posting: TrytonStatementPosting) -> None:
        entries = dict(enumerate(statement.entries, start=1))
        lines = await self._rpc.search_read("account.statement.line", [("statement", "=", statement_id)],
                                            ["number", "description", "move", "amount"], order=[("id", "ASC")])
        for line in lines:
            kind, number = ([*line["description"].split(), "", ""])[:2]
            entry = entries.get(int(line["number"])) if str(line["number"]).isdigit() else None
            found = await self._books.invoices([("number", "=", number)], limit=1)
            invoice = found[0] if found else None
            tie = dict(line=str(line["number"]), reference=(entry.remittance_reference or "") if entry else "",
                       end_to_end_id=entry.end_to_end_id if entry else None)
            if invoice is None:
                posting.unprocessed.append(TrytonUnprocessed(**tie, reason=f"invoice {number} is gone from Tryton"))
                continue
            payable = await self._books.payable_line(invoice)
            if kind == RETURN:
                matched = await self._reopen(invoice, payable, line["move"])
            else:
                matched = code_of(payable or {}, "reconciliation.rec_name") if invoice["state"] == "paid" else ""
            if not matched:
                posting.unprocessed.append(TrytonUnprocessed(**tie, reason=f"Tryton did not {kind} invoice {number}"))
                continue
            done = TrytonLine(**tie, entry_reference=entry.entry_reference if entry else None,
                              invoice_document=number, accounting_document=str(invoice["move"]),
                              clearing_document=matched, amount=abs(line["amount"]))
            (posting.reopened if kind == RETURN else posting.cleared).append(done)

    async def _reopen(self, invoice: dict, payable: dict | None, return_move: int) -> str:
        """Undo the invoice's clearing and match its payment with the return; idempotent.
        Returns the reconciliation of payment and return ("" if there is no payment to match)."""
        found = await self._rpc.search_read("account.move.line", [
            ("move", "=", return_move), ("account", "=", invoice["account"])],
            ["reconciliation", "reconciliation.rec_name", "credit"], limit=1)
        if not found:
            return ""
        returned = found[0]
        if returned["reconciliation"]:
            return code_of(returned, "reconciliation.rec_name")
        if payable and payable.get("reconciliation"):
            await self._rpc.wizard("account.move.unreconcile_lines", "account.move.line", [payable["id"]],
                                   state="unreconcile")
        candidates = await self._rpc.read("account.move.line", list(invoice.get("payment_lines") or []),
                                          ["reconciliation", "debit"])
        payment = next((p for p in reversed(candidates)
                        if not p["reconciliation"] and p["debit"] == returned["credit"]), None)
        if payment is None:
            return ""
        # The payment no longer pays the invoice: off its payment lines (Tryton counts every one
        # of them against the invoice's amount), matched with the money that came back instead.
        await self._rpc.write("account.invoice", [invoice["id"]], {"payment_lines": [["remove", [payment["id"]]]]})
        await self._rpc.wizard("account.move.reconcile_lines", "account.move.line", [payment["id"], returned["id"]])
        [matched] = await self._rpc.read("account.move.line", [returned["id"]], ["reconciliation.rec_name"])
        return code_of(matched, "reconciliation.rec_name")

    async def was_returned(self, invoice_number: str) -> bool:
        """A posted statement returned a payment of this invoice (the item was cleared, then reopened)."""
        return bool(await self._rpc.search_read("account.statement.line", [
            ("statement.state", "=", "posted"), ("description", "like", f"{RETURN} {invoice_number} entry %")],
            ["id"], limit=1))

    async def applied(self, accounting_document: str, number: str) -> bool:
        """Whether a posted statement `number` carries a line for the invoice of this account move."""
        invoices = await self._books.invoices([("move", "=", int(accounting_document))], limit=1) \
            if accounting_document.isdigit() else []
        if not invoices:
            return False
        lines = await self._rpc.search_read("account.statement.line", [
            ("statement.name", "=", number), ("statement.state", "=", "posted"),
            ("description", "like", f"% {invoices[0]['number']} entry %")], ["id"], limit=1)
        return bool(lines)


def _refusal(invoice: dict, entry: StatementEntry, is_return: bool, used: set[int]) -> str:
    name = f"invoice {invoice['number']}"
    currency = code_of(invoice, "currency.code")
    if invoice["id"] in used:
        return f"{name} has another line in this statement"
    if currency != entry.currency:
        return f"{name} is in {currency}, the entry in {entry.currency}"
    if invoice["total_amount"] != entry.amount:
        return f"{name} is for {invoice['total_amount']} {currency}, the entry is for {entry.amount}"
    if is_return:
        return "" if invoice["state"] == "paid" else \
            f"{name} is {invoice['state']}, not cleared: there is no payment to reopen"
    if invoice["state"] != "posted":
        return f"{name} is {invoice['state']}: paying it again would pay twice"
    return ""


def _day(statement: BankStatement) -> date:
    return statement.statement_date or max((e.booking_date for e in statement.entries if e.booking_date),
                                           default=None) or date.today()
