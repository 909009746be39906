"""The continue-as-new snapshot without a server: it survives the worker's converter and codec
unchanged (bank details encrypted on the way), and the state holders give back what they took,
bounded where they must be."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from canonical.commands import LifecyclePolicy, PaymentRunInclusion
from canonical.exceptions import ExceptionCase, ExceptionOwner, Severity
from canonical.invoice_response import ResponseCode
from canonical.lifecycle_snapshot import (
    MAX_BANK_ANSWER_KEYS,
    AnswersSnapshot,
    CaseBookSnapshot,
    ControlsSnapshot,
    LifecycleSnapshot,
    PendingAnswer,
    Stage,
    StateSnapshot,
    WaitingAt,
    WaitPoint,
)
from canonical.payment import BankStatus, BankStatusReport, PaymentInstruction
from canonical.status import ErpDocument, InvoiceStatus, StatusChange
from canonical.supplier import SupplierBankAccount
from canonical.validation import ValidatedInvoice
from codec.bank_details import ENCODING, BankDetailsCodec, data_converter
from tests.helpers import make_invoice
from workflows.exception_cases import CaseBook
from workflows.payment_leg import PaymentLeg

IBAN = "DE89370400440532013000"
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def case(number: int, **kw) -> ExceptionCase:
    return ExceptionCase(case_id=f"1710-1000013-X#{number}", type="TreasuryRefused", owner=ExceptionOwner.TREASURY_OPS,
                         reason="cash pool closed", opened_at=NOW, sla_due_at=NOW + timedelta(hours=48), **kw)


def paid_leg() -> PaymentLeg:
    leg = PaymentLeg()
    inclusion = PaymentRunInclusion(payment_run_id="A1", run_key="ACME-1", execution_date=date(2026, 11, 25))
    leg.reserve(inclusion, PaymentInstruction(
        invoice_key="1710-1000013-X", attempt=1, end_to_end_id="1710-1000013-X/1", amount=Decimal("1190.00"),
        currency="EUR", requested_execution_date=date(2026, 11, 25), creditor_name="Globex", creditor_iban=IBAN,
        remittance_reference="X"))
    for n in range(MAX_BANK_ANSWER_KEYS + 200):  # a long-lived lifecycle: many bank messages, all kept apart
        leg.apply(BankStatusReport(message_id=f"MSG-{n}", end_to_end_id="1710-1000013-X/1", status=BankStatus.ACCEPTED))
    return leg


def snapshot() -> LifecycleSnapshot:
    invoice = make_invoice(ref="X")
    return LifecycleSnapshot(
        invoice=invoice, policy=LifecyclePolicy(exception_sla_hours=72),
        waiting=WaitPoint(stage=Stage.OUTFLOW, at=WaitingAt.STEP_HOLD),
        state=StateSnapshot(status=InvoiceStatus.ON_HOLD, before_hold=InvoiceStatus.POSTED,
                            history=[StatusChange(status=InvoiceStatus.ON_HOLD, at=NOW, note="TreasuryRefused")],
                            erp_document=ErpDocument(invoice_document="5100000001", fiscal_year="2026",
                                                     accounting_document="0100000001"),
                            first_entered={"RECEIVED": NOW}, started_at=NOW),
        cases=CaseBookSnapshot(sequence=3, open=case(3), side=[case(2, severity=Severity.CRITICAL)], closed=[case(1)]),
        validated=ValidatedInvoice(supplier_name="Globex", bank_account=SupplierBankAccount(
            bank_account_id="0001", country="DE", iban=IBAN, bic="COBADEFFXXX")),
        payment=paid_leg().snapshot(),
        controls=ControlsSnapshot(seen_documents=["ab" * 32], conflicts=["another gross"]),
        answers=AnswersSnapshot(codes=[ResponseCode.AB, ResponseCode.AP],
                                pending=[PendingAnswer(code=ResponseCode.UQ, reasons=[("OTH", "held")], note="held")]),
        runs=2,
    )


async def test_snapshot_survives_the_converter_and_codec_with_bank_details_encrypted():
    converter = data_converter(BankDetailsCodec({"k1": b"k" * 32}, "k1"))
    original = snapshot()
    [encoded] = await converter.encode([original])
    assert encoded.metadata["encoding"] == ENCODING and IBAN.encode() not in encoded.data
    [decoded] = await converter.decode([encoded], [LifecycleSnapshot])
    assert decoded == original
    assert decoded.answers.pending[0].reasons == [("OTH", "held")]


def test_payment_leg_gives_back_its_attempts_in_place_and_keeps_the_newest_answer_keys():
    leg = paid_leg()
    taken = leg.snapshot()
    assert len(taken.seen_answers) == MAX_BANK_ANSWER_KEYS
    assert taken.seen_answers[-1].startswith(f"MSG-{MAX_BANK_ANSWER_KEYS + 199}|")
    again = PaymentLeg()
    shown = again.attempts  # the lifecycle state shows this very list
    again.restore(LifecycleSnapshot.model_validate_json(snapshot().model_dump_json()).payment)
    assert again.attempts is shown and again.snapshot() == taken
    assert again.current.outcome == "accepted" and again.instruction.creditor_iban == IBAN
    repeat = BankStatusReport(message_id=f"MSG-{MAX_BANK_ANSWER_KEYS + 199}", end_to_end_id="1710-1000013-X/1",
                              status=BankStatus.ACCEPTED)
    assert again.apply(repeat) is None  # a key it remembers: a repeat, not news


def test_case_book_gives_back_the_same_cases_and_counter():
    book = CaseBook("1710-1000013-X", timedelta(hours=48))
    taken = snapshot().cases
    book.restore(taken)
    assert book.snapshot() == taken
    assert book.open.case_id.endswith("#3") and book.shown().severity == Severity.CRITICAL
