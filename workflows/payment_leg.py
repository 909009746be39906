"""The payment side of one invoice: its attempts and what the bank said about them. Pure
state (no awaits), fed by signal handlers; the lifecycle waits on its properties.

Bank answers arrive at least once and out of order (settled before accepted, a late AC04
after acceptance), so each is de-duplicated and applied by what it says, not by arrival."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.commands import BankRejection, PaymentRunInclusion, PaymentSent
    from canonical.payment import BankStatus, BankStatusReport, PaymentInstruction
    from canonical.reason_codes import in_words
    from canonical.status import PaymentAttempt


class PaymentLeg:
    def __init__(self) -> None:
        self.attempts: list[PaymentAttempt] = []
        self.instruction: PaymentInstruction | None = None
        self.reservation: PaymentRunInclusion | None = None
        self.clearing_hint = False
        self._seen: set[str] = set()
        self.late_answers: list[str] = []

    @property
    def current(self) -> PaymentAttempt | None:
        return self.attempts[-1] if self.attempts and self.instruction else None

    def outcome(self) -> str | None:
        return self.current.outcome if self.current else None

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
        self._seen.add(key)
        current = self.current
        if current is None or (report.end_to_end_id and report.end_to_end_id != current.end_to_end_id):
            note = f"{report.status.value} for {report.end_to_end_id}, not the current attempt: recorded, not acted on"
            self.late_answers.append(note)
            return note
        if report.message_id:
            current.bank_messages.append(report.message_id)
        words = in_words(report.reason_code) if report.reason_code else None
        ranks = {"reserved": 0, "sent": 1, "accepted": 2, "settled": 3}
        if report.status == BankStatus.ACCEPTED:
            if ranks.get(current.outcome, 9) < ranks["accepted"]:
                current.outcome = "accepted"
        elif report.status == BankStatus.SETTLED:
            if current.outcome in ranks:
                current.outcome = "settled"
        elif report.status in (BankStatus.REJECTED, BankStatus.RETURNED):
            if current.outcome in ("rejected", "returned"):
                return f"{report.status.value} again for {current.end_to_end_id}"
            # A rejection after a settlement is a contradiction for treasury, not a re-payment.
            current.outcome = "returned" if report.status == BankStatus.RETURNED or current.outcome == "settled" else "rejected"
            current.reason_code, current.reason = report.reason_code, words
        return f"bank: {report.status.value} {current.end_to_end_id}" + (f" ({words})" if words else "")

    def manual_rejection(self, rejection: BankRejection) -> BankStatusReport:
        current = self.current
        return BankStatusReport(
            message_id=f"manual:{rejection.reported_by or 'treasury'}:{rejection.reason_code}",
            end_to_end_id=rejection.end_to_end_id or (current.end_to_end_id if current else None),
            status=BankStatus.REJECTED, reason_code=rejection.reason_code, reason_text=rejection.reason_text,
        )

    def next_attempt(self) -> int:
        """Attempt number for the next reservation. Only after the last one failed for good."""
        return (self.attempts[-1].attempt + 1) if self.attempts else 1

    def clear_reservation(self) -> None:
        self.reservation, self.instruction, self.clearing_hint = None, None, False
