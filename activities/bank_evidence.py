"""What the bank itself has said about one payment attempt, from the messages the inbox
recorded (architecture invariant 4: they are recorded before anyone acts on them).

A person reporting "the bank rejected it" is not the bank: before a second payment may go
out, the lifecycle asks here (architecture invariant 11). Only a pain.002 RJCT naming the
attempt, a return, or a balanced end-of-day statement dated past value date + margin that
does not carry the debit count; a booked debit anywhere means the money left."""

import asyncio
from datetime import timedelta

from temporalio import activity

from adapters.bank import BankClient
from adapters.bank_documents import UnreadableBankMessage, read_bank_message
from adapters.bank_errors import BankError
from adapters.bank_references import BankReferenceRegister, in_our_terms
from adapters.iso20022.readers import statement_balances
from adapters.payment_registers import PaymentRegisters
from canonical.bank import BankMessage, BankStatement, MessageKind, PayingAccount, PaymentReturn, PaymentStatusReport
from canonical.bank_evidence import BankEvidence, BankEvidenceQuery, Evidence


def weigh(query: BankEvidenceQuery, messages: list[BankMessage], debtor_iban: str | set[str], margin_days: int,
          references: BankReferenceRegister | None = None) -> BankEvidence:
    """The strongest thing the bank's recorded messages say, in this order: returned, booked,
    rejected, not booked, nothing yet. `debtor_iban`: how the bank names our account in its
    statements (a NACHA account's BAI2 names it by its account number). `references`: to read
    a NACHA account's messages in our ids (adapters/bank_references.py)."""
    found: dict[Evidence, BankEvidence] = {}
    ours = {debtor_iban} if isinstance(debtor_iban, str) else set(debtor_iban)
    for message in messages:
        try:
            documents = read_bank_message(message.kind, message.body)
        except UnreadableBankMessage:
            continue  # the inbox reports unreadable messages; they prove nothing here
        if references is not None:
            documents = in_our_terms(documents, references)
        for document in documents:
            for evidence in _evidence_in(document, message, query, ours, margin_days):
                found.setdefault(evidence.evidence, evidence)
    for kind in (Evidence.RETURNED, Evidence.BOOKED, Evidence.REJECTED, Evidence.NOT_BOOKED):
        if kind in found:
            return found[kind]
    return BankEvidence(evidence=Evidence.NONE, detail=f"the bank has not reported on {query.end_to_end_id} yet")


def _evidence_in(document, message: BankMessage, query: BankEvidenceQuery, debtor: set[str], margin_days: int):
    e2e, msg_id = query.end_to_end_id, query.message_id
    if isinstance(document, PaymentStatusReport) and document.original_message_id == msg_id:
        if document.group_reason_code == "DUPL":
            return  # "already have that file": not an answer about it
        if document.group_status == "RJCT" and not document.transactions:
            yield BankEvidence(evidence=Evidence.REJECTED,
                               detail=f"pain.002 {document.message_id} rejected file {msg_id}",
                               bank_message_id=document.message_id, reason_code=document.group_reason_code)
        for tx in document.transactions:
            if tx.end_to_end_id == e2e and tx.status == "RJCT":
                yield BankEvidence(evidence=Evidence.REJECTED, bank_message_id=document.message_id,
                                   detail=f"pain.002 {document.message_id} rejected {e2e}", reason_code=tx.reason_code)
    elif isinstance(document, PaymentReturn) and document.end_to_end_id == e2e:
        if document.original_message_id in (None, msg_id):
            yield BankEvidence(evidence=Evidence.RETURNED, detail=f"pacs.004 {document.message_id} returned {e2e}",
                               bank_message_id=document.message_id, reason_code=document.reason_code,
                               amount=document.amount, booking_date=document.settlement_date)
    elif isinstance(document, BankStatement) and document.account_iban.replace(" ", "") in debtor:
        ours = [e for e in document.entries if e.end_to_end_id == e2e and e.original_message_id in (None, msg_id)]
        for entry in ours:
            kind = Evidence.RETURNED if entry.is_return else Evidence.BOOKED
            yield BankEvidence(evidence=kind, bank_message_id=document.message_id, amount=entry.amount,
                               booking_date=entry.booking_date or entry.value_date,
                               reason_code=entry.return_reason_code,
                               detail=f"{document.kind.value} {document.message_id}: {entry.direction} {entry.amount} "
                                      f"{entry.currency} for {e2e}")
        cutoff = query.value_date + timedelta(days=margin_days)
        if (not ours and document.kind == MessageKind.STATEMENT and document.statement_date is not None
                and document.statement_date >= cutoff and not statement_balances(document)):
            yield BankEvidence(evidence=Evidence.NOT_BOOKED, bank_message_id=document.message_id,
                               detail=f"statement {document.message_id} of {document.statement_date} (balanced) has no "
                                      f"debit for {e2e}, requested for {query.value_date}")


class BankEvidenceActivities:
    def __init__(self, bank: BankClient, registers: PaymentRegisters, paying_accounts: dict[str, PayingAccount],
                 not_booked_margin_days: int) -> None:
        self._bank, self._registers, self._accounts = bank, registers, paying_accounts
        self._margin = not_booked_margin_days

    @activity.defn
    async def bank_evidence_for_payment(self, query: BankEvidenceQuery) -> BankEvidence:
        """Read-only on finsync's records, except that it may ask the bank for an intraday
        report, which arrives in the mailbox (the inbox records it like any other message)."""
        record = await asyncio.to_thread(self._registers.payment, query.end_to_end_id)
        if record is None or record.message_id != query.message_id:
            return BankEvidence(evidence=Evidence.NONE, detail=f"{query.end_to_end_id} in {query.message_id} is not in "
                                                               "finsync's payment register")
        refusal = await asyncio.to_thread(self._registers.file_refusal, query.message_id)
        if refusal is not None:
            return BankEvidence(evidence=Evidence.REJECTED, reason_code=refusal.reason_code,
                                bank_message_id=query.message_id,
                                detail=f"the bank refused file {query.message_id} when it was sent: {refusal.detail}")
        account = self._accounts.get(paying_account_of(record.run_key))
        if account is None:
            return BankEvidence(evidence=Evidence.NONE, detail=f"run {record.run_key} names no known paying account")
        if query.request_intraday_report:
            # Only a nudge for fresher evidence; what decides is what the bank has sent. A bank
            # that refuses the report (a closed account: 409) or is down must not stop the look.
            try:
                await self._bank.request_intraday_report(account.account_id)
            except BankError as e:
                activity.logger.warning("no intraday report for %s: %s", account.account_id, e)
        since = query.value_date - timedelta(days=7)
        messages = await asyncio.to_thread(self._registers.messages_since, since)
        names = {account.iban.replace(" ", "")} | ({account.account_number} if account.account_number else set())
        return weigh(query, messages, names, self._margin, self._registers)


    @activity.defn
    async def payment_file_of(self, end_to_end_id: str) -> str | None:
        """The MsgId of the payment file this attempt is in, unless the bank refused that file
        at the door: then, and when it is in none, the attempt never reached the bank."""
        record = await asyncio.to_thread(self._registers.payment, end_to_end_id)
        if record is None:
            return None
        refused = await asyncio.to_thread(self._registers.file_refusal, record.message_id)
        return None if refused is not None else record.message_id


def paying_account_of(run_key: str) -> str:
    """Run keys are `<paying account>-<yyyymmdd>-<run number>` (workflows/payment_run.py)."""
    return run_key.rsplit("-", 2)[0]
