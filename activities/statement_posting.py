"""Post one camt.053 to the ERP that books our account's company code (SAP: as FINSTA01), at
most once per (account, statement number), and queue a `statement_posted` hint for every
lifecycle whose item the ERP cleared or reopened.

SAP does not refuse a statement it has seen, and a replayed one clears again (guide §7.3), so
the register is claimed *before* the call ("pending", atomically: two messages carrying one
statement cannot both post it) and completed after it. A pending entry is never posted again:
the ERP is asked whether it applied the statement (see statement_evidence).

Whatever an attempt finds (posted now, a pending entry the ERP shows applied, a statement posted
before), the lifecycles to tell are read from the statement and the ERP, never from what a
crashed attempt held in memory: the statement's entries name our payments, the payment
register names their ERP documents, and the ERP's open items (ErpPort.clearing_states) say
which are cleared or reopened. A pending entry the ERP shows no trace of is `unknown`: the workflow waits a settle
window and calls again.

Statement keys name our account by its id (`ACME:2025-001`), never by its IBAN: keys are
activity results, problem texts and outbox batch keys, all in plain workflow history
(architecture invariant 9). The register still finds entries under the IBAN keys of before."""

import asyncio
from collections.abc import Mapping

from activities import audit_money
from activities.statement_evidence import ErpView, erp_view
from adapters.audit_log import AuditLog
from adapters.bank_documents import read_in_our_terms
from adapters.erp_directory import ErpDirectory
from adapters.erp_errors import ErpBusinessError, ErpStatementNotPostable, ErpTransientError
from adapters.erp_port import ErpPort, StatementFormat, StatementPostingLike
from adapters.finsta import statement_number
from adapters.iso20022.readers import statement_balances
from adapters.lifecycle_outbox import LifecycleOutbox
from adapters.payment_registers import PENDING, PaymentRegisters
from canonical.bank import BankMessage, BankStatement, describe_left_out
from canonical.inbox import LifecycleSignal, StatementOutcome
from canonical.masking import mask_bank_details
from canonical.vendors import keyed_fingerprint, normalise_account

REFUSED = "refused:"  # register prefix: the ERP answered and posted nothing
HINTS, AGAIN = "#erp:", "/again"  # outbox batch keys: <message>#erp:<statement>, and its second round
MAX_PROBLEMS = 20
_NOTHING_PROCESSED = (None, 429, 503)  # not reachable, or busy before processing: SAP has nothing


def statement_account(iban: str, accounts: Mapping[str, str], fingerprint_key: bytes) -> str:
    """Our account id for the statement's IBAN (`accounts`: normalised IBAN -> account id);
    an account not configured is named by its masked form and a keyed fingerprint, unique
    without being the number."""
    iban = normalise_account(iban)
    return accounts.get(iban) or f"{mask_bank_details(iban)}-{keyed_fingerprint(iban, fingerprint_key)[:12]}"


class Posting:
    def __init__(self, registers: PaymentRegisters, erps: ErpDirectory, outbox: LifecycleOutbox, audit: AuditLog,
                 accounts: Mapping[str, str] | None = None, fingerprint_key: bytes = b"") -> None:
        self._registers, self._erps, self._outbox = registers, erps, outbox
        self._audit = audit
        self._accounts = {normalise_account(iban): name for iban, name in (accounts or {}).items()}
        self._fingerprint_key = fingerprint_key

    async def post(self, message: BankMessage) -> StatementOutcome:
        outcome = StatementOutcome(bank_message_id=message.bank_message_id)
        problems: list[str] = []
        for statement in read_in_our_terms(message.kind, message.body, self._registers):
            assert isinstance(statement, BankStatement), f"{message.kind} {message.bank_message_id} is no statement"
            number = statement_number(statement)
            key = f"{statement_account(statement.account_iban, self._accounts, self._fingerprint_key)}:{number}"
            legacy = f"{statement.account_iban}:{number}"  # the register's key before account ids
            enriched = await asyncio.to_thread(_with_references, statement, self._registers)
            erp = self._erp_of(statement.account_iban)
            if isinstance(erp, str):  # not routable: only a problem when it carries payments of ours
                if any(e.remittance_reference for e in enriched.entries):
                    problems.append(f"statement {key} not posted: {erp}")
                else:
                    outcome.already_posted.append(f"{key} (no payments of ours)")
                continue
            view = await self._post_one(erp, enriched, key, legacy, message.bank_message_id, outcome, problems)
            if view is not None:
                # Whoever posted it, whatever attempt: what the ERP shows cleared is audited once per payment.
                await asyncio.to_thread(self._audit.append, audit_money.erp_clearings(key, view.as_left()))
                await self._queue_hints(view, f"{message.bank_message_id}{HINTS}{key}", outcome)
        problems = [mask_bank_details(p) for p in problems]  # the ERP's texts may quote an account
        outcome.problems = problems[:MAX_PROBLEMS] + (
            [f"... and {len(problems) - MAX_PROBLEMS} more"] if len(problems) > MAX_PROBLEMS else [])
        return outcome

    def _erp_of(self, iban: str) -> ErpPort | str:
        """The ERP of the company code our account pays for, or why there is none."""
        account_id = self._accounts.get(normalise_account(iban))
        if account_id is None:
            return "the account is not one of our paying accounts"
        try:
            return self._erps.for_paying_account(account_id)
        except ErpBusinessError as e:
            return e.message

    async def _post_one(self, erp: ErpPort, statement: BankStatement, key: str, legacy: str, message_id: str,
                        outcome: StatementOutcome, problems: list[str]) -> ErpView | None:
        """The ERP's view of the statement's payments once the ERP has it, else None. `key`
        names the statement everywhere; the register's entry may be under `legacy`."""
        found = await asyncio.to_thread(self._registers.find_statement_posting, key, legacy)
        register_key, existing = (found[0], found[1:]) if found is not None else (key, None)
        if existing is None:
            gaps = statement_balances(statement)
            if gaps:
                # Nothing is cleared from a statement that does not add up: that is where wrong
                # clearings come from. Treasury reconciles it with the bank.
                problems += [f"statement {key} not posted: {gap}" for gap in gaps]
                return None
            if not any(e.remittance_reference for e in statement.entries):
                outcome.already_posted.append(f"{key} (no payments of ours)")
                return None
            if isinstance(erp, StatementFormat):  # a token refused now is an outage, not an unknown post
                await erp.ready_for_statement()
            existing = await asyncio.to_thread(self._registers.claim_statement_posting, key, message_id, legacy)
            if existing is None:
                posting = await self._send(erp, statement, key, message_id)
                outcome.posted.append(key)
                problems += posting.problems(key) + _not_our_documents(key, statement, posting)
                return await erp_view(statement, self._registers, erp)
        owner, reference = existing
        if owner != message_id:  # the bank sent this statement again under another message id
            outcome.already_posted.append(f"{key} (from bank message {owner})")
            return None if reference == PENDING else await erp_view(statement, self._registers, erp)
        if reference.startswith(REFUSED):
            problems.append(f"statement {key} was refused by the ERP ({reference[len(REFUSED):]}); not posted again")
            return None
        view = await erp_view(statement, self._registers, erp)
        if reference == PENDING:  # claimed, then no answer recorded: a crash or a lost answer
            evidence = await view.evidence_of(statement_number(statement))
            if evidence is None:
                outcome.unknown.append(key)
                return None
            await self._audit_post(key, message_id, f"recovered: {evidence}")
            await asyncio.to_thread(self._registers.record_statement_posting, register_key, message_id,
                                    f"recovered: {evidence}")
            outcome.posted.append(f"{key} (answer recovered from the ERP: {evidence})")
        else:  # this message's own post, answered: a retry after the answer was recorded
            outcome.already_posted.append(key)
        # The ERP's answer (lines it could not clear) may have died with the attempt that got it:
        # what the ERP shows now says the same for every line of ours.
        left_out = describe_left_out(key, erp.left_out(statement)) if isinstance(erp, StatementFormat) else []
        problems += [f"statement {key}: {p}" for p in view.not_applied()] + left_out
        return view

    async def _send(self, erp: ErpPort, statement: BankStatement, key: str, message_id: str) -> StatementPostingLike:
        try:
            posting = await erp.post_bank_statement(statement)
        except ErpStatementNotPostable:  # refused while building the ERP's posting: nothing was sent
            await asyncio.to_thread(self._registers.release_statement_claim, key, message_id)
            raise
        except ErpTransientError as e:
            if e.status in _NOTHING_PROCESSED:  # the next attempt may post: the ERP certainly has nothing
                await asyncio.to_thread(self._registers.release_statement_claim, key, message_id)
            raise
        except ErpBusinessError as e:  # answered and posted nothing (SAP: IDoc status 51, a 4xx)
            await asyncio.to_thread(self._registers.record_statement_posting, key, message_id, REFUSED + e.message)
            raise
        await self._audit_post(key, message_id, posting.erp_reference)
        await asyncio.to_thread(self._registers.record_statement_posting, key, message_id, posting.erp_reference)
        return posting

    async def _audit_post(self, key: str, message_id: str, erp_reference: str) -> None:
        # Before the register's answer: a crash in between leaves "pending", and the recovery
        # that follows appends again and finds the entry.
        await asyncio.to_thread(self._audit.append, [audit_money.statement_posted(key, message_id, erp_reference)])

    async def _queue_hints(self, view: ErpView, batch_key: str, outcome: StatementOutcome) -> None:
        # The ERP's answer for each payment rides along: a lifecycle told "cleared" needs no read.
        hints = [LifecycleSignal(workflow_id=w, signal="statement_posted", hint=True,
                                 argument=None if clearing is None else clearing.model_dump(mode="json"))
                 for w, clearing in view.clearings_to_tell().items()]
        if not hints:
            return
        for key in (batch_key, batch_key + AGAIN):
            await asyncio.to_thread(self._outbox.queue, key, hints)
        outcome.hint_batches.append(batch_key)
        outcome.lifecycles_to_tell += len(hints)


def _with_references(statement: BankStatement, registers: PaymentRegisters) -> BankStatement:
    """The bank reports our EndToEndId; the payment register translates it into the ERP document
    the payment was for (what an ERP that clears by document quotes) and the invoice reference
    (what SAP matches a line on). Whatever text the bank carried is dropped, so only payments
    finsync sent can clear anything, and only the document they were sent for (issue 12 item 5)."""
    records = registers.payments([e.end_to_end_id for e in statement.entries if e.end_to_end_id])
    entries = []
    for entry in statement.entries:
        record = records.get(entry.end_to_end_id or "")
        entries.append(entry.model_copy(update={
            "remittance_reference": record.remittance_reference if record else None,
            "erp_document": record.accounting_document if record else None}))
    return statement.model_copy(update={"entries": entries})


def _not_our_documents(key: str, statement: BankStatement, posting: StatementPostingLike) -> list[str]:
    """Lines the ERP applied to another document than the one the payment was for: an ERP that
    matches by reference and amount took another supplier's item. Said loudly for treasury, who
    reverses it in the ERP; the lifecycles only ever look at their own document."""
    ours = {e.end_to_end_id: e.erp_document for e in statement.entries if e.end_to_end_id and e.erp_document}
    # The lines an ERP reports it applied (SAP's posting lists them; an ERP that clears by our
    # document alone reports none and cannot take another invoice's item).
    lines = [("cleared", line) for line in getattr(posting, "cleared", [])]
    lines += [("reopened", line) for line in getattr(posting, "reopened", [])]
    return [f"statement {key} line {line.line}: the ERP {what} document {line.accounting_document} with the payment "
            f"{line.end_to_end_id}, which was for document {ours[line.end_to_end_id]}: another invoice's item"
            for what, line in lines
            if line.end_to_end_id in ours and line.accounting_document != ours[line.end_to_end_id]]

