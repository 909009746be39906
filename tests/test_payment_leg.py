"""PaymentLeg on its own (no server): which attempt a bank confirmation belongs to.

A hand-reported rejection starts a bank check in the background of the lifecycle. The main
flow can confirm the same failure through the inbox, remediate and reserve a new attempt while
that check's activity is still out; its late answer must stay with the attempt it asked about."""

from datetime import date
from decimal import Decimal

import pytest

from canonical.bank_evidence import BankEvidence, Evidence
from canonical.commands import PaymentRunInclusion
from canonical.payment import BankStatus, BankStatusReport, PaymentInstruction
from workflows.payment_leg import PaymentLeg, account_digest

pytestmark = pytest.mark.clock_independent

KEY, OLD_IBAN, NEW_IBAN = "1710-1000013-X", "DE89370400440532013000", "DE02120300000000202051"
REJECTED = BankEvidence(evidence=Evidence.REJECTED, detail="pain.002 RJCT AC04", reason_code="AC04")


def reserve(leg: PaymentLeg, attempt: int, iban: str) -> None:
    inclusion = PaymentRunInclusion(payment_run_id=f"A{attempt}", run_key=f"ACME-{attempt}",
                                    execution_date=date(2026, 11, 25))
    leg.reserve(inclusion, PaymentInstruction(
        invoice_key=KEY, attempt=attempt, end_to_end_id=f"{KEY}/{attempt}", amount=Decimal("1190.00"),
        currency="EUR", requested_execution_date=date(2026, 11, 25), creditor_name="Globex", creditor_iban=iban,
        remittance_reference="X"))


def rejected_first_attempt_then_a_second() -> tuple[PaymentLeg, object]:
    leg = PaymentLeg()
    reserve(leg, 1, OLD_IBAN)
    first = leg.live
    leg.apply(BankStatusReport(message_id="PAIN002-1", end_to_end_id=first.end_to_end_id,
                               status=BankStatus.REJECTED, reason_code="AC04"))
    leg.confirm_failure(REJECTED)  # the main flow's own check
    leg.clear_reservation()
    return leg, first


def test_a_late_confirmation_between_attempts_names_its_attempt_and_does_not_need_a_reservation():
    leg, first = rejected_first_attempt_then_a_second()
    leg.confirm_failure(REJECTED, first)  # the background check answers while nothing is reserved
    assert leg.confirmed == {first.end_to_end_id}
    assert leg.rejected_accounts == [account_digest(OLD_IBAN)]


def test_a_late_confirmation_never_marks_the_new_attempt_as_failed():
    leg, first = rejected_first_attempt_then_a_second()
    reserve(leg, 2, NEW_IBAN)
    leg.confirm_failure(REJECTED, first)
    assert leg.live.end_to_end_id not in leg.confirmed  # a later rejection of attempt 2 is asked of the bank
    assert leg.rejected_accounts == [account_digest(OLD_IBAN)]  # the new account is not blocked


def test_the_current_attempt_rejected_for_its_account_blocks_that_account():
    leg = PaymentLeg()
    reserve(leg, 1, OLD_IBAN)
    leg.apply(BankStatusReport(message_id="PAIN002-1", end_to_end_id=f"{KEY}/1", status=BankStatus.REJECTED,
                               reason_code="AC04"))
    leg.confirm_failure(REJECTED)
    assert leg.confirmed == {f"{KEY}/1"} and leg.rejected_accounts == [account_digest(OLD_IBAN)]
