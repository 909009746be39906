"""What the ERP shows about the payments one bank statement carries, read in bulk through the
ERP port (ErpPort.clearing_states; SAP: its own open-item API): which lifecycles it cleared or
reopened (they are told to look now), and whether the ERP applied the statement at all (the
recovery after a post whose answer was lost).

Evidence that the ERP applied a statement, strongest first:
  * an item one of its debits pays is cleared by a payment the ERP ties to the statement
    (ErpPort.cleared_by_statement; SAP writes the statement number, BGMREF, as the payment
    document's ReferenceDocument when a FINSTA01 clears);
  * an item one of its return lines names is reopened (ClearingIsReversed, no clearing):
    only a statement's RET line does that, and a payment is returned on one statement only.
A statement SAP applied without clearing or reopening anything leaves no trace: that stays
unknown, and after several looks it is treasury's case. It is never posted again."""

import asyncio

from adapters.erp_port import ErpPort
from adapters.payment_registers import PaymentRegisters
from canonical.bank import BankStatement, StatementEntry
from canonical.erp import ItemClearing, StatementClearing
from canonical.payment import PaymentRecord


class ErpView:
    def __init__(self, ours: list[tuple[StatementEntry, PaymentRecord, ItemClearing | None]], erp: ErpPort):
        self._ours, self._erp = ours, erp

    def clearings_to_tell(self) -> dict[str, StatementClearing | None]:
        """Lifecycles whose item the ERP shows as the statement left it (paid items cleared,
        returned items reopened; telling one too many only costs it a look), each with the ERP's
        answer when the statement cleared its payment, so it moves on without reading its open
        item again; None (a plain hint: the lifecycle reads) for a return or several lines."""
        told: dict[str, StatementClearing | None] = {}
        for entry, record, item in self.as_left():
            clearing = None if entry.is_return or record.workflow_id in told else StatementClearing(
                accounting_document=item.accounting_document, end_to_end_id=entry.end_to_end_id or "",
                cleared=True, clearing_document=item.clearing_document, clearing_date=item.clearing_date)
            told[record.workflow_id] = clearing
        return told

    def as_left(self) -> list[tuple[StatementEntry, PaymentRecord, ItemClearing]]:
        """Our payments whose item the ERP shows as the statement left it (cleared, or reopened for a return)."""
        return [(entry, record, item) for entry, record, item in self._ours
                if item is not None and (item.reopened if entry.is_return else item.cleared)]

    def not_applied(self) -> list[str]:
        """Payments of ours on the statement whose item the ERP does not show cleared (or reopened)."""
        return [f"{entry.direction} {entry.amount} {entry.currency} ({entry.end_to_end_id}, invoice "
                f"{record.remittance_reference}) is not {'reopened' if entry.is_return else 'cleared'} in the ERP"
                for entry, record, item in self._ours
                if item is None or not (item.reopened if entry.is_return else item.cleared)]

    async def evidence_of(self, number: str) -> str | None:
        """The ERP's own record that it applied statement `number`, in words; None if it shows none."""
        checked: set[tuple[str, str, str]] = set()
        for entry, _, item in self._ours:
            if entry.is_return or item is None or not item.cleared:
                continue
            document = (item.clearing_document, item.company_code, item.clearing_fiscal_year or item.fiscal_year)
            if document in checked:
                continue
            checked.add(document)
            if await self._erp.cleared_by_statement(item, number):
                return f"payment document {document[0]} refers to statement {number}"
        for entry, _, item in self._ours:
            if entry.is_return and item is not None and item.reopened:
                return f"item {item.accounting_document} reopened by the return {entry.end_to_end_id}"
        return None


async def erp_view(statement: BankStatement, registers: PaymentRegisters, erp: ErpPort) -> ErpView:
    """The statement's payments of ours (debits, and returns of them) with their ERP items."""
    entries = [e for e in statement.entries if e.end_to_end_id and e.remittance_reference
               and (e.direction == "CRDT") == e.is_return]
    records = await asyncio.to_thread(registers.payments, [e.end_to_end_id for e in entries if e.end_to_end_id])
    ours = [(e, records[e.end_to_end_id]) for e in entries
            if e.end_to_end_id in records and records[e.end_to_end_id].accounting_document]
    items = await erp.clearing_states([r.accounting_document for _, r in ours if r.accounting_document])
    return ErpView([(e, r, _pick(items.get(r.accounting_document or "", []), r)) for e, r in ours], erp)


def _pick(candidates: list[ItemClearing], record: PaymentRecord) -> ItemClearing | None:
    """One document number can exist in several company codes or fiscal years: the item for
    this payment's amount and currency, the latest year first."""
    matching = [c for c in candidates if c.amount == record.amount and c.currency == record.currency]
    return max(matching, key=lambda c: c.fiscal_year, default=None)
