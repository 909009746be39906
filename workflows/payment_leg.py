"""The payment side of one invoice: its attempts and what the bank said about them. Pure
state (no awaits), fed by signal handlers; the lifecycle waits on its properties.

Bank answers arrive at least once and out of order (settled before accepted, a late AC04
after acceptance), so each is de-duplicated and applied by what it says, not by arrival.
A rejection only counts once the bank's recorded messages confirm it (architecture
invariant 11): until then a settlement still wins, and a settlement of an attempt that was
given up is a paid-twice alert, never a note."""

import hashlib

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.bank_evidence import BankEvidence
    from canonical.commands import BankRejection, PaymentRunInclusion, PaymentSent
    from canonical.erp import StatementClearing
    from canonical.lifecycle_snapshot import MAX_BANK_ANSWER_KEYS, MAX_LATE_ANSWERS, PaymentLegSnapshot
    from canonical.payment import BankStatus, BankStatusReport, PaymentInstruction
    from canonical.reason_codes import ACCOUNT_REASONS, in_words
    from canonical.status import PaymentAttempt

FAILED = ("rejected", "returned")
_RANKS = {"reserved": 0, "sent": 1, "accepted": 2, "settled": 3}


def account_digest(iban: str) -> str:
    """Which account an attempt paid, without keeping the IBAN in workflow state."""
    return hashlib.sha256(iban.replace(" ", "").upper().encode()).hexdigest()[:16]


class PaymentLeg:
    def __init__(self) -> None:
        self.attempts: list[PaymentAttempt] = []
        self.instruction: PaymentInstruction | None = None
        self.reservation: PaymentRunInclusion | None = None
        self.clearing_hint = False
        # The ERP's answer that a statement cleared the live attempt (statement_posted's payload);
        # not carried over a continue-as-new: the new run reads the open item instead.
        self.erp_clearing: StatementClearing | None = None
        self._seen: dict[str, None] = {}  # answer keys in arrival order: the newest are kept on continue-as-new
        self.late_answers: list[str] = []
        self.paid_twice: list[str] = []  # alerts not yet turned into cases
        self.confirmed: set[str] = set()  # EndToEndIds whose failure the bank's messages confirmed
        self.rejected_accounts: list[str] = []  # digests of accounts the bank refused as wrong

    @property
    def current(self) -> PaymentAttempt | None:
        return self.attempts[-1] if self.attempts and self.instruction else None

    @property
    def live(self) -> PaymentAttempt:
        """`current`, where the flow holds a reservation (from reserve() to clear_reservation()),
        so there is one."""
        current = self.current
        assert current is not None, "no payment attempt is reserved"
        return current

    @property
    def live_instruction(self) -> PaymentInstruction:
        """The reserved attempt's instruction, as `live`."""
        assert self.instruction is not None, "no payment attempt is reserved"
        return self.instruction

    def outcome(self) -> str | None:
        return self.current.outcome if self.current else None

    def attempt(self, end_to_end_id: str | None) -> PaymentAttempt | None:
        return next((a for a in reversed(self.attempts) if a.end_to_end_id == end_to_end_id), None)

    def reserve(self, inclusion: PaymentRunInclusion, instruction: PaymentInstruction) -> None:
        self.reservation, self.instruction = inclusion, instruction
        self.attempts.append(PaymentAttempt(
            attempt=instruction.attempt, end_to_end_id=instruction.end_to_end_id,
            payment_run_id=inclusion.payment_run_id, run_key=inclusion.run_key,
        ))

    def sent(self, sent: PaymentSent) -> None:
        current = self.current
        if current and sent.end_to_end_id == current.end_to_end_id and current.message_id is None:
            current.message_id = sent.message_id
            if current.outcome == "reserved":
                current.outcome = "sent"

    def release(self, run_key: str) -> None:
        current = self.current
        if current and current.run_key == run_key and current.outcome == "reserved":
            current.outcome = "released"

    def apply(self, report: BankStatusReport) -> str | None:
        """Apply one bank answer; returns a note for the history, or None if it was a repeat."""
        key = f"{report.message_id}|{report.end_to_end_id}|{report.status.value}"
        if key in self._seen:
            return None
        self._seen[key] = None
        current = self.current
        if current is None or (report.end_to_end_id and report.end_to_end_id != current.end_to_end_id):
            return self._late(report)
        if report.message_id:
            current.bank_messages.append(report.message_id)
        if current.message_id is None and report.original_message_id:
            current.message_id = report.original_message_id  # a whole file refused before it was "sent"
        words = in_words(report.reason_code) if report.reason_code else None
        if report.status == BankStatus.ACCEPTED:
            if _RANKS.get(current.outcome, 9) < _RANKS["accepted"]:
                current.outcome = "accepted"
        elif report.status == BankStatus.SETTLED:
            current.treasury_booked = current.treasury_booked or report.treasury_booked
            if current.outcome in _RANKS:
                current.outcome = "settled"
            elif current.outcome in FAILED and current.end_to_end_id not in self.confirmed:
                # The money left after all: an unconfirmed rejection report is void.
                current.outcome, current.reason_code, current.reason = "settled", None, None
                return f"bank: settled {current.end_to_end_id}; the rejection reported before is void"
        elif report.status in (BankStatus.REJECTED, BankStatus.RETURNED):
            if current.outcome in FAILED:
                return f"{report.status.value} again for {current.end_to_end_id}"
            # A rejection after a settlement is a contradiction for treasury, not a re-payment.
            current.outcome = ("returned" if report.status == BankStatus.RETURNED or current.outcome == "settled"
                               else "rejected")
            current.reason_code, current.reason = report.reason_code, words
        return f"bank: {report.status.value} {current.end_to_end_id}" + (f" ({words})" if words else "")

    def _late(self, report: BankStatusReport) -> str:
        earlier = self.attempt(report.end_to_end_id)
        if (earlier is not None and report.status == BankStatus.SETTLED
                and earlier.outcome not in ("settled", "returned")):
            # An attempt finsync had given up on was paid: the invoice may be paid twice.
            was = earlier.outcome
            earlier.outcome = "settled"
            now = self.attempts[-1]
            alert = (f"attempt {earlier.attempt} ({earlier.end_to_end_id}, {was} until now) was settled by the bank "
                     f"({report.message_id}, {report.amount or 'amount not given'}, "
                     f"booked {report.booking_date or '?'}); "
                     f"attempt {now.attempt} ({now.end_to_end_id}) is {now.outcome}")
            self.paid_twice.append(alert)
            return f"PAID TWICE? {alert}"
        note = f"{report.status.value} for {report.end_to_end_id}, not the current attempt: recorded, not acted on"
        self.late_answers.append(note)
        return note

    def confirm_failure(self, evidence: BankEvidence, attempt: PaymentAttempt | None = None) -> None:
        """The bank's own messages confirm that `attempt` (the current one if not named) will not
        be paid. A background bank check can answer after its attempt was confirmed by another
        way and superseded: the evidence then stays with that attempt, never the new one."""
        attempt = attempt or self.live
        attempt.bank_evidence = evidence.detail
        if attempt.end_to_end_id in self.confirmed:
            return
        self.confirmed.add(attempt.end_to_end_id)
        if attempt is self.current and self.instruction is not None and attempt.reason_code in ACCOUNT_REASONS:
            self.rejected_accounts.append(account_digest(self.instruction.payee_account()))

    def not_booked(self, evidence: BankEvidence) -> None:
        """A balanced statement past value date + margin shows no debit: the attempt failed."""
        current = self.live
        code = current.reason_code or "MS03"
        current.outcome, current.reason_code = "rejected", code
        current.reason = f"not booked by the bank ({evidence.detail})"
        self.confirm_failure(evidence)

    def report(self, reported: str) -> None:
        self.live.reported_rejection = reported

    def manual_rejection(self, rejection: BankRejection) -> BankStatusReport:
        """Histories from before hand reports were checked with the bank replay this."""
        current = self.current
        return BankStatusReport(
            message_id=f"manual:{rejection.reported_by or 'treasury'}:{rejection.reason_code}",
            end_to_end_id=rejection.end_to_end_id or (current.end_to_end_id if current else None),
            status=BankStatus.REJECTED, reason_code=rejection.reason_code, reason_text=rejection.reason_text,
        )

    def snapshot(self) -> PaymentLegSnapshot:
        return PaymentLegSnapshot(
            attempts=self.attempts, instruction=self.instruction, reservation=self.reservation,
            clearing_hint=self.clearing_hint, seen_answers=list(self._seen)[-MAX_BANK_ANSWER_KEYS:],
            late_answers=self.late_answers[-MAX_LATE_ANSWERS:], paid_twice=self.paid_twice,
            confirmed=sorted(self.confirmed), rejected_accounts=self.rejected_accounts,
        )

    def restore(self, snap: PaymentLegSnapshot) -> None:
        # In place: the lifecycle state shows the same attempts list.
        self.attempts[:] = snap.attempts
        self.instruction, self.reservation, self.clearing_hint = snap.instruction, snap.reservation, snap.clearing_hint
        self._seen = dict.fromkeys(snap.seen_answers)
        self.late_answers, self.paid_twice = list(snap.late_answers), list(snap.paid_twice)
        self.confirmed, self.rejected_accounts = set(snap.confirmed), list(snap.rejected_accounts)

    def next_attempt(self) -> int:
        """Attempt number for the next reservation. Only after the last one failed for good."""
        return (self.attempts[-1].attempt + 1) if self.attempts else 1

    def take_clearing(self, clearing: StatementClearing) -> None:
        """Kept only when the ERP names a clearing document for the live attempt's payment: an
        answer about an earlier, returned attempt must not clear this one."""
        current = self.current
        if clearing.cleared and clearing.clearing_document and current is not None \
                and clearing.end_to_end_id == current.end_to_end_id:
            self.erp_clearing = clearing

    def clear_reservation(self) -> None:
        self.reservation, self.instruction, self.clearing_hint = None, None, False
        self.erp_clearing = None
