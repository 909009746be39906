"""Only the bank's own evidence frees a second payment (architecture invariant 11), a mixin of
InvoiceToPayment (it shares the lifecycle's state, cases and calls).

- A person's report (`report_bank_rejection` update with a treasury-ops decision token; the
  old `bank_rejection` signal lands here too, as an unverified report) is checked: only for
  the attempt the bank has, sent and not yet answered. It opens a RejectionNotConfirmed case
  for treasury and asks the bank (an intraday report, then what the inbox recorded) until the
  bank's messages decide: rejected, returned, a balanced statement past value date + margin
  without the debit (not booked), or booked — then the report was wrong, and the payment goes
  on to clearing. Nothing is paid again meanwhile.
- Any rejection, whoever signalled it, is confirmed the same way before remediation opens.
- A settlement of an attempt finsync had given up on is a critical PaidTwice case.
"""

import asyncio
from datetime import date, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.bank_evidence import BankEvidenceActivities
    from canonical.bank_evidence import BankEvidence, BankEvidenceQuery, Evidence
    from canonical.commands import ReportBankRejection
    from canonical.exceptions import ExceptionOwner, Severity
    from canonical.payment import BankStatus, BankStatusReport
    from canonical.reason_codes import in_words
    from canonical.status import PaymentAttempt

import workflows.activity_options as opts
from workflows import decisions
from workflows.lifecycle_parts import LifecycleParts
from workflows.payment_leg import FAILED

EVIDENCE_PATCH = "bank-evidence-v1"
UNCONFIRMED = "RejectionNotConfirmed"
PAID_TWICE = "PaidTwice"
_TREASURY = ExceptionOwner.TREASURY_OPS


class BankConfirmation(LifecycleParts):
    def _init_bank_confirmation(self) -> None:
        self._bank_checks: list[asyncio.Task] = []

    # -- a person's report ------------------------------------------------------------------
    @workflow.update
    def report_bank_rejection(self, report: ReportBankRejection) -> str:
        if report.token:  # verified by the validator; a report from before tokens names itself (replay)
            person = decisions.person(report.token)
            self._state.record_decision(person, "report_bank_rejection",
                                        f"bank rejection {report.reason_code} of {report.end_to_end_id} reported",
                                        before=self._pay.live.outcome, after="checked with the bank")
            report = report.model_copy(update={"reported_by": person.subject})
        return self._take_rejection_report(report)

    @report_bank_rejection.validator
    def _validate_report_bank_rejection(self, report: ReportBankRejection) -> None:
        refusal = self._report_refusal(report.end_to_end_id)
        if refusal:
            raise ValueError(refusal)
        if not report.token:
            raise ValueError("report_bank_rejection needs a signed decision token: python -m cli decision "
                             f"report_bank_rejection --as <you> --workflow-id {workflow.info().workflow_id} "
                             f"--set reason_code=AC04 --set end_to_end_id={report.end_to_end_id}")
        person = decisions.verify(report.token, "report_bank_rejection")  # role treasury-ops
        if self._state.token_used(person):
            raise ValueError("this decision token was already used on this invoice; ask for a fresh one")

    def _take_rejection_report(self, report: ReportBankRejection) -> str:
        """A report the validator (or the old signal, payment_messages) let through."""
        attempt = self._pay.live
        said = f"{in_words(report.reason_code)} reported by {report.reported_by or 'unnamed'}"
        self._pay.report(said + (f": {report.reason_text}" if report.reason_text else ""))
        case = self._unconfirmed_case(attempt, f"{said} for attempt {attempt.attempt} ({attempt.end_to_end_id})")
        self._state.note(f"{said} for {attempt.end_to_end_id}: not the bank's answer; asking the bank")
        self._bank_checks.append(asyncio.create_task(self._settle_report(attempt, case, report.reason_code)))
        return (f"{case}: recorded. finsync asks the bank; nothing is paid again unless the bank's own messages "
                f"confirm that {attempt.end_to_end_id} will not be paid")

    def _report_refusal(self, end_to_end_id: str) -> str | None:
        key, current = self._state.invoice.key, self._pay.current
        if current is None:
            return f"{key} has no payment attempt at the bank (status {self._state.status.value})"
        if end_to_end_id != current.end_to_end_id:
            earlier = self._pay.attempt(end_to_end_id)
            if earlier is not None:
                return (f"{end_to_end_id} is attempt {earlier.attempt} ({earlier.outcome}); the current attempt is "
                        f"{current.end_to_end_id}")
            return f"{key} has no attempt {end_to_end_id}; the current attempt is {current.end_to_end_id}"
        if current.outcome in ("reserved", "released"):
            return f"{end_to_end_id} has not been sent to the bank; nothing the bank could have rejected"
        if current.outcome in FAILED:
            return f"{end_to_end_id} is already {current.outcome}: {current.reason}"
        if current.outcome == "settled":
            return (f"the bank settled {end_to_end_id}; money that comes back arrives as a return (pacs.004), "
                    "which the bank inbox applies")
        if current.reported_rejection:
            return (f"a rejection of {end_to_end_id} was already reported ({current.reported_rejection}); "
                    "the check is on")
        return None

    async def _settle_report(self, attempt: PaymentAttempt, case_id: str, reason_code: str) -> None:
        """In the background of the main flow: ask the bank until it has decided."""
        value_date = self._pay.live_instruction.requested_execution_date
        if await self._ask_bank_until_decided(attempt, value_date, reason_code):
            verdict = f"confirmed by the bank: {attempt.bank_evidence or attempt.reason}"
        else:
            verdict = f"not confirmed: the bank booked {attempt.end_to_end_id} ({attempt.bank_evidence or 'settled'})"
        self._close_unconfirmed(case_id, verdict)

    # -- every rejection, before remediation ------------------------------------------------
    async def _bank_confirms_failure(self) -> bool:
        """True when the bank's messages confirm the current attempt failed; False when they
        show it booked (the payment then goes on to clearing)."""
        attempt = self._pay.live
        if attempt.end_to_end_id in self._pay.confirmed:
            return True
        value_date = self._pay.live_instruction.requested_execution_date
        confirmed = await self._ask_bank_until_decided(attempt, value_date, attempt.reason_code, open_case=True)
        return confirmed

    async def _ask_bank_until_decided(self, attempt: PaymentAttempt, value_date: date, reason_code: str | None,
                                      open_case: bool = False) -> bool:
        e2e, first, case_id = attempt.end_to_end_id, True, None
        decided = lambda: attempt.outcome == "settled" or e2e in self._pay.confirmed  # noqa: E731
        while not decided():
            if attempt.message_id is None:  # never reached the bank: nothing can be booked
                self._pay.confirm_failure(BankEvidence(evidence=Evidence.REJECTED, detail="never sent to the bank"),
                                          attempt)
                break
            evidence = await self._call(
                BankEvidenceActivities.bank_evidence_for_payment,
                BankEvidenceQuery(end_to_end_id=e2e, message_id=attempt.message_id, value_date=value_date,
                                  request_intraday_report=first),
                summary=f"what has the bank said about {e2e}?", via=opts.BANK)
            first = False
            self._take_evidence(attempt, evidence, reason_code)
            if decided():
                break
            if open_case and case_id is None:
                case_id = self._unconfirmed_case(attempt,
                                                 f"{attempt.outcome} ({attempt.reason or 'no reason'}) signalled for "
                                                 f"{e2e}, but the bank's recorded messages do not show it")
            try:
                await workflow.wait_condition(decided, timeout=timedelta(minutes=self._policy.bank_check_minutes),
                                              timeout_summary="look at the bank's messages again")
            except TimeoutError:
                pass
        if case_id is not None:
            self._close_unconfirmed(case_id, f"the bank decided: {attempt.bank_evidence or attempt.outcome}")
        return e2e in self._pay.confirmed and attempt.outcome != "settled"

    def _take_evidence(self, attempt: PaymentAttempt, evidence: BankEvidence, reason_code: str | None) -> None:
        attempt.bank_evidence = evidence.detail
        report = dict(message_id=evidence.bank_message_id, end_to_end_id=attempt.end_to_end_id,
                      reason_code=evidence.reason_code, booking_date=evidence.booking_date, amount=evidence.amount)
        if evidence.evidence == Evidence.BOOKED:
            self._apply_bank_report(BankStatusReport(status=BankStatus.SETTLED, **report))
        elif evidence.evidence in (Evidence.REJECTED, Evidence.RETURNED):
            status = BankStatus.REJECTED if evidence.evidence == Evidence.REJECTED else BankStatus.RETURNED
            self._apply_bank_report(BankStatusReport(status=status, **report))
            if attempt.outcome in FAILED:
                self._pay.confirm_failure(evidence, attempt)
        elif evidence.evidence == Evidence.NOT_BOOKED and attempt is self._pay.current:
            attempt.reason_code = attempt.reason_code or reason_code
            self._pay.not_booked(evidence)
            self._state.note(f"{attempt.end_to_end_id}: {attempt.reason}")

    # -- cases ------------------------------------------------------------------------------
    def _unconfirmed_case(self, attempt: PaymentAttempt, what: str) -> str:
        case = self._cases.open_side(UNCONFIRMED, f"{what}; the bank has not confirmed it. Nothing is paid again until "
                                                  "its own messages do", _TREASURY)
        self._state.case_changed()
        return case.case_id

    def _close_unconfirmed(self, case_id: str, verdict: str) -> None:
        if self._cases.close_side(case_id, "finsync", verdict) is not None:
            self._state.note(verdict)
            self._state.case_changed()

    def _raise_paid_twice(self) -> None:
        """Called after every bank answer: each alert becomes a critical case for treasury."""
        while self._pay.paid_twice:
            alert = self._pay.paid_twice.pop(0)
            inv = self._state.invoice
            self._cases.open_side(PAID_TWICE, f"{inv.gross_amount} {inv.currency} may have been paid twice: {alert}. "
                                              "No further attempt until treasury resolves this case", _TREASURY,
                                  severity=Severity.CRITICAL)
            self._state.note(f"PaidTwice case opened: {alert}")
            self._state.case_changed()

    def _paid_twice_open(self) -> bool:
        return bool(self._cases.side_of_type(PAID_TWICE))

    async def _finish_bank_checks(self) -> None:
        if self._bank_checks:
            await asyncio.gather(*self._bank_checks)
