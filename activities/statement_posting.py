"""Post one camt.053 to the ERP as FINSTA01, at most once per (account, statement number).

SAP does not refuse a statement it has seen, and a replayed one clears again (guide §7.3),
so the register is written *before* the call ("pending") and completed after it. A pending
entry found later means the outcome is unknown: a person checks, finsync never re-posts."""

import asyncio

from adapters.finsta import statement_number
from adapters.iso20022.readers import read_message_all, statement_balances
from adapters.payment_registers import PaymentRegisters
from adapters.sap_payments import SapPayments
from activities.errors import business_error
from canonical.bank import BankMessage, BankStatement
from canonical.inbox import StatementOutcome

PENDING = "pending"


async def post_statement(message: BankMessage, registers: PaymentRegisters, erp: SapPayments) -> StatementOutcome:
    outcome = StatementOutcome(bank_message_id=message.bank_message_id)
    for statement in read_message_all(message.kind, message.body):
        await _post_one(statement, message, registers, erp, outcome)
    return outcome


async def _post_one(statement: BankStatement, message: BankMessage, registers: PaymentRegisters, erp: SapPayments,
                    outcome: StatementOutcome) -> None:
    key = f"{statement.account_iban}:{statement_number(statement)}"
    previous = await asyncio.to_thread(registers.statement_posting, key)
    if previous == PENDING:
        if await _recover(statement, key, message, registers, erp, outcome):
            return
        raise business_error("StatementPostingOutcomeUnknown",
                             f"statement {key} was sent to the ERP without a recorded answer, and the ERP shows no "
                             "posting of it yet; check the ERP before anything else")
    if previous is not None:
        outcome.already_posted.append(key)
        return
    gaps = statement_balances(statement)
    if gaps:
        # Nothing is cleared from a statement that does not add up: that is where wrong
        # clearings come from. Treasury reconciles it with the bank.
        outcome.problems += [f"statement {key} not posted: {gap}" for gap in gaps]
        return
    enriched = await asyncio.to_thread(_with_references, statement, registers)
    if not any(e.remittance_reference for e in enriched.entries):
        outcome.already_posted.append(f"{key} (no payments of ours)")
        return
    await asyncio.to_thread(registers.record_statement_posting, key, message.bank_message_id, PENDING)
    posting = await erp.post_bank_statement(enriched)
    await asyncio.to_thread(registers.record_statement_posting, key, message.bank_message_id, posting.idoc_number)
    outcome.posted.append(key)
    # Cleared and reopened items: their lifecycles look at the ERP now instead of at their next check.
    for line in [*posting.cleared, *posting.reopened]:
        record = await asyncio.to_thread(registers.latest_payment_for_reference, line.reference)
        if record is not None and record.workflow_id not in outcome.notify_workflow_ids:
            outcome.notify_workflow_ids.append(record.workflow_id)
    outcome.problems += [f"statement {key} line {u.line} ({u.reference or 'no reference'}): {u.reason}" for u in posting.unprocessed]
    outcome.problems += [f"statement {key}: {finding}" for finding in posting.findings]
    outcome.problems += [f"statement {key}: {left.entry.direction} {left.entry.amount} {left.entry.currency} "
                         f"({left.entry.end_to_end_id or left.entry.entry_reference}) left out: {left.reason}"
                         for left in posting.left_out if left.entry.direction == "DBIT" or left.entry.is_return]


def _with_references(statement: BankStatement, registers: PaymentRegisters) -> BankStatement:
    """The ERP clears by invoice reference; the bank reports our EndToEndId. The payment
    register translates, so only payments finsync sent can clear anything."""
    entries = []
    for entry in statement.entries:
        record = registers.payment(entry.end_to_end_id) if entry.end_to_end_id else None
        reference = record.remittance_reference if record else None
        entries.append(entry.model_copy(update={"remittance_reference": reference}))
    return statement.model_copy(update={"entries": entries})


async def _recover(statement: BankStatement, key: str, message: BankMessage, registers: PaymentRegisters,
                   erp: SapPayments, outcome: StatementOutcome) -> bool:
    """After a post with no answer: did the ERP apply it? Ask by one of the invoices the
    statement pays. If so, complete the register and let the lifecycles look for themselves."""
    records = [registers.payment(e.end_to_end_id) for e in statement.entries if e.end_to_end_id]
    records = [r for r in records if r is not None and r.accounting_document]
    if not records:
        return False
    idocs = await erp.statements_posted_for(records[0].accounting_document)
    if not idocs:
        return False
    await asyncio.to_thread(registers.record_statement_posting, key, message.bank_message_id, idocs[-1])
    outcome.posted.append(f"{key} (answer recovered from the ERP: IDoc {idocs[-1]})")
    outcome.notify_workflow_ids += sorted({r.workflow_id for r in records} - set(outcome.notify_workflow_ids))
    return True
