"""Bank inbox activities: record bank messages before acting on them, turn them into lifecycle
signals queued in the treasury store (sent by activities.lifecycle_delivery), and post
statements to the ERP exactly once (DESIGN invariant 4)."""

import asyncio
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from temporalio import activity

from activities import audit_money
from activities.bank_interpretation import deliveries_for_return, deliveries_for_statement, deliveries_for_status
from activities.errors import business_error, transient_error
from activities.heartbeat import heartbeating
from activities.statement_posting import Posting
from adapters.audit_log import AuditLog
from adapters.bank import BankClient, BankTransientError
from adapters.bank_documents import UnreadableBankMessage, read_in_our_terms
from adapters.bank_file_drop import BankFileDrops
from adapters.erp_directory import ErpDirectory
from adapters.erp_errors import ErpBusinessError, ErpOutcomeUnknown, ErpStatementNotPostable, ErpTransientError
from adapters.lifecycle_outbox import LifecycleOutbox
from adapters.payment_registers import PaymentRegisters
from adapters.treasury_store import TreasuryStore
from canonical.bank import BankMessage, BankStatement, MessageKind, PaymentReturn, PaymentStatusReport
from canonical.inbox import Delivery, InboxBatch, InboxWork, LifecycleSignal, MarkApplied, StatementOutcome
from canonical.masking import mask_bank_details
from canonical.payment import BankStatus, PaymentRecord

_MAX_PROBLEMS_PER_MESSAGE = 20


class BankInboxActivities:
    def __init__(self, bank: BankClient, registers: PaymentRegisters, erps: ErpDirectory, outbox: LifecycleOutbox,
                 audit: AuditLog | None = None, accounts: Mapping[str, str] | None = None,
                 fingerprint_key: bytes = b"", retention: timedelta = timedelta(days=400),
                 file_drops: BankFileDrops | None = None, treasury: TreasuryStore | None = None) -> None:
        """`accounts`: our IBANs and their account ids, which name statements in history.
        `retention`: how long a message's raw body is kept after it was applied.
        `file_drops`: the paying accounts whose answers come through the bank's pickup directory.
        `treasury`: where a batch's settlements become actual outflows (without it, each lifecycle
        makes its own)."""
        self._bank, self._registers, self._outbox, self._treasury = bank, registers, outbox, treasury
        self._file_drops = file_drops or BankFileDrops({})
        self._retention = retention
        self._audit = audit or AuditLog(registers.engine)  # the bank's answers outlive history (invariant 13)
        self._posting = Posting(registers, erps, outbox, self._audit, accounts, fingerprint_key)

    @activity.defn
    async def collect_bank_messages(self) -> int:
        """Peek (which also makes the bank release what is due) and record; then collect,
        which consumes, and record again whatever arrived in between. Only a crash in that
        last instant loses a message, and the bank offers no list of what was collected: a
        lost pain.002 or camt.054 is then found in the bank's reports, never assumed (the
        silent-bank timer asks for a camt.052 and weighs the camt.053s, bank_evidence.py)."""
        try:
            new = 0
            if self._file_drops.reads_http:
                new += await self._record(await self._bank.peek_mailbox())
                new += await self._record(await self._bank.collect_mailbox())
            # Recorded before a file is moved to done/: one picked up again after a crash is known.
            new += await asyncio.to_thread(self._file_drops.pick_up, self._registers.record_bank_messages)
        except BankTransientError as e:
            raise transient_error(f"bank mailbox unavailable: {e}", e.retry_after) from e
        # The inbox polls all day: each poll also empties the bodies past retention (one UPDATE),
        # so no workflow changes its commands for it.
        purged = await asyncio.to_thread(self._registers.purge_message_bodies, datetime.now(UTC) - self._retention)
        if purged:
            activity.logger.info("purged the raw bodies of %d bank messages applied over %d days ago", purged,
                                 self._retention.days)
        return new

    async def _record(self, messages: list[BankMessage]) -> int:
        # The bank's HTTP copy of a file-drop account's message is left out: that account's
        # answers are taken from its pickup directory only, so no message is counted twice even
        # where the two copies' ids differ (a bank naming its files its own way).
        messages = [m for m in messages if m.account not in self._file_drops.accounts]
        return await asyncio.to_thread(self._registers.record_bank_messages, messages) if messages else 0

    @activity.defn
    async def interpret_bank_messages(self, batch: InboxBatch) -> InboxWork:
        """The next batch of unapplied messages, sized by the payments they name: their signals
        go to the treasury store's outbox under each message's id; the workflow sees counts."""
        return await asyncio.to_thread(self._interpret, batch)

    def _interpret(self, batch: InboxBatch) -> InboxWork:
        work = InboxWork()
        messages = self._registers.unapplied_messages(batch.max_messages + 1)
        work.more = len(messages) > batch.max_messages
        for message in messages[:batch.max_messages]:
            if work.message_ids and work.payments >= batch.max_payments:
                work.more = True
                break
            work.message_ids.append(message.bank_message_id)
            try:
                # NACHA/BAI2 name payments by what the file carried: named by our ids here.
                documents = read_in_our_terms(message.kind, message.body, self._registers)
            except UnreadableBankMessage as e:
                work.problems[message.bank_message_id] = mask_bank_details(f"unreadable {message.kind.value}: {e}")
                continue
            if message.kind == MessageKind.STATEMENT:
                work.statements.append(message.bank_message_id)
                work.payments += sum(len(d.entries) for d in documents if isinstance(d, BankStatement))
            answers, problems = [], []
            for document in documents:
                found, trouble = self._deliveries(message.kind, document)
                answers += found
                problems += trouble
            records = self._registers.payments([d.report.end_to_end_id for d in answers
                                                if d.report.end_to_end_id]) if answers else {}
            if message.kind == MessageKind.NOTIFICATION and self._treasury is not None:
                answers = _book_actual_outflows(answers, records, self._treasury)
            signals = [LifecycleSignal(workflow_id=d.workflow_id, signal=d.signal,
                                       argument=d.report.model_dump(mode="json")) for d in answers]
            work.signals_queued += self._outbox.queue(message.bank_message_id, signals) if signals else 0
            if answers:  # a retry after a crash here appends again and finds the entries there
                self._audit.append(audit_money.bank_answers(message.bank_message_id, message.received_at, answers,
                                                            records))
            work.payments += len(signals)
            if problems:
                more = len(problems) - _MAX_PROBLEMS_PER_MESSAGE
                work.problems[message.bank_message_id] = mask_bank_details("; ".join(
                    problems[:_MAX_PROBLEMS_PER_MESSAGE] + ([f"and {more} more"] if more > 0 else [])))
        return work

    def _deliveries(self, kind: MessageKind, document) -> tuple[list, list[str]]:
        if isinstance(document, PaymentStatusReport):
            ids = [tx.end_to_end_id for tx in document.transactions]
            return deliveries_for_status(document, _Preloaded(self._registers, ids))
        if isinstance(document, PaymentReturn):
            return deliveries_for_return(document, self._registers)
        if isinstance(document, BankStatement) and kind == MessageKind.NOTIFICATION:
            ids = [e.end_to_end_id for e in document.entries if e.end_to_end_id]
            return deliveries_for_statement(document, _Preloaded(self._registers, ids))
        # Statements go to the ERP (their bookings were notified by camt.054); intraday
        # reports only inform.
        return [], []

    @activity.defn
    async def post_statement_to_erp(self, bank_message_id: str) -> StatementOutcome:
        """Heartbeats throughout: SAP takes minutes for a big statement, and a worker that dies
        meanwhile must be noticed within the heartbeat timeout, not the 12-minute one."""
        message = await asyncio.to_thread(self._registers.message, bank_message_id)
        if message is None:
            raise business_error("UnknownBankMessage", f"bank message {bank_message_id} was never recorded")
        try:
            return await heartbeating(self._posting.post(message))
        except ErpStatementNotPostable as e:
            raise business_error("StatementNotPostable", str(e)) from e
        except (ErpTransientError, ErpOutcomeUnknown) as e:
            # Outcome unknown: the register says "pending", so the retry asks the ERP, never re-posts.
            raise transient_error(f"ERP unavailable for the statement: {e}", getattr(e, "retry_after", None)) from e
        except ErpBusinessError as e:
            raise business_error("StatementRefusedByErp", e.message) from e

    @activity.defn
    async def record_statement_problems(self, done: MarkApplied) -> None:
        """What a statement's post found, on the bank message (reconciliation reports it)."""
        for message_id in done.message_ids:
            if done.problems.get(message_id):
                await asyncio.to_thread(self._registers.add_message_problem, message_id, done.problems[message_id])

    @activity.defn
    async def mark_messages_applied(self, done: MarkApplied) -> None:
        for message_id in done.message_ids:
            await asyncio.to_thread(self._registers.mark_applied, message_id, done.problems.get(message_id))


def _book_actual_outflows(answers: list[Delivery], records: Mapping[str, PaymentRecord],
                          treasury: TreasuryStore) -> list[Delivery]:
    """A camt.054's debits of our payments: their treasury outflows become actual in one write,
    on the bank's booking date and amount, and each settlement says so (`treasury_booked`),
    which spares every lifecycle its own write (an action each). Written again on a retry:
    the same values. One with no outflow row is left to its lifecycle, as before."""
    def booking(d: Delivery) -> tuple[str, date, Decimal] | None:  # (invoice key, booking date, amount)
        report, record = d.report, records.get(d.report.end_to_end_id or "")
        if report.status != BankStatus.SETTLED or record is None or report.amount is None or not report.booking_date:
            return None
        return record.invoice_key, report.booking_date, report.amount

    bookings = [b for d in answers if (b := booking(d))]
    moved = treasury.mark_actual_booked(bookings) if bookings else set()
    return [d.model_copy(update={"report": d.report.model_copy(update={"treasury_booked": True})})
            if (b := booking(d)) and b[0] in moved else d for d in answers]


class _Preloaded:
    """The payment register, with one document's payments read in one query: a pain.002 can
    name thousands, and one lookup each would make the batch slow."""

    def __init__(self, registers: PaymentRegisters, end_to_end_ids: list[str]) -> None:
        self._registers, self._found = registers, registers.payments(end_to_end_ids)

    def payment(self, end_to_end_id: str):
        return self._found.get(end_to_end_id)

    def payments_in_message(self, message_id: str):
        return self._registers.payments_in_message(message_id)
