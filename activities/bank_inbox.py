"""Bank inbox activities: record bank messages before acting on them, turn them into
lifecycle signals, and post statements to the ERP exactly once (DESIGN invariant 4)."""

import asyncio

from temporalio import activity

from activities.errors import business_error, transient_error
from adapters.bank import BankClient, BankTransientError
from adapters.iso20022.readers import UnreadableBankMessage, read_message_all
from adapters.finsta import StatementNotPostable
from adapters.payment_registers import PaymentRegisters
from adapters.sap import SapBusinessError, SapClient, SapOutcomeUnknown, SapTransientError
from adapters.sap_payments import SapPayments
from canonical.bank import BankMessage, BankStatement, MessageKind, PaymentReturn, PaymentStatusReport
from canonical.inbox import InboxWork, MarkApplied, StatementOutcome
from activities.bank_interpretation import deliveries_for_return, deliveries_for_statement, deliveries_for_status
from activities.statement_posting import post_statement


class BankInboxActivities:
    def __init__(self, bank: BankClient, registers: PaymentRegisters, sap: SapClient) -> None:
        self._bank, self._registers, self._erp = bank, registers, SapPayments(sap)

    @activity.defn
    async def collect_bank_messages(self) -> int:
        """Peek (which also makes the bank release what is due) and record; then collect,
        which consumes, and record again whatever arrived in between. A retry after a crash
        between the two also records from the bank's list of released messages."""
        try:
            new = await self._record(await self._bank.peek_mailbox())
            if activity.info().attempt > 1:
                new += await self._record(await self._bank.released_messages())
            new += await self._record(await self._bank.collect_mailbox())
        except BankTransientError as e:
            raise transient_error(f"bank mailbox unavailable: {e}", e.retry_after) from e
        return new

    async def _record(self, messages: list[BankMessage]) -> int:
        return await asyncio.to_thread(self._registers.record_bank_messages, messages) if messages else 0

    @activity.defn
    async def interpret_bank_messages(self, limit: int) -> InboxWork:
        work = InboxWork()
        for message in await asyncio.to_thread(self._registers.unapplied_messages, limit):
            work.message_ids.append(message.bank_message_id)
            try:
                documents = read_message_all(message.kind, message.body)
            except UnreadableBankMessage as e:
                work.problems[message.bank_message_id] = f"unreadable {message.kind.value}: {e}"
                continue
            if message.kind == MessageKind.STATEMENT:
                work.statements.append(message.bank_message_id)
            problems: list[str] = []
            for document in documents:
                found, trouble = self._deliveries(message.kind, document)
                work.deliveries.extend(found)
                problems += trouble
            if problems:
                work.problems[message.bank_message_id] = "; ".join(problems)
        return work

    def _deliveries(self, kind: MessageKind, document) -> tuple[list, list[str]]:
        if isinstance(document, PaymentStatusReport):
            return deliveries_for_status(document, self._registers)
        if isinstance(document, PaymentReturn):
            return deliveries_for_return(document, self._registers)
        if isinstance(document, BankStatement) and kind == MessageKind.NOTIFICATION:
            return deliveries_for_statement(document, self._registers)
        # Statements go to the ERP (their bookings were notified by camt.054); intraday
        # reports only inform.
        return [], []

    @activity.defn
    async def post_statement_to_erp(self, bank_message_id: str) -> StatementOutcome:
        message = await asyncio.to_thread(self._registers.message, bank_message_id)
        if message is None:
            raise business_error("UnknownBankMessage", f"bank message {bank_message_id} was never recorded")
        try:
            return await post_statement(message, self._registers, self._erp)
        except StatementNotPostable as e:
            raise business_error("StatementNotPostable", str(e)) from e
        except (SapTransientError, SapOutcomeUnknown) as e:
            raise transient_error(f"ERP unavailable for the statement: {e}", getattr(e, "retry_after", None)) from e
        except SapBusinessError as e:
            raise business_error("StatementRefusedByErp", e.message) from e

    @activity.defn
    async def mark_messages_applied(self, done: MarkApplied) -> None:
        for message_id in done.message_ids:
            await asyncio.to_thread(self._registers.mark_applied, message_id, done.problems.get(message_id))
