"""A stand-in for InvoiceToPayment at payment-run scale (thousands of invoices in CI time):
registered under the same name, it speaks the payment run's protocol exactly — the
`reserve_for_payment_run` update (idempotent per run key, refused for another run) answered
with a ReservedPayment, then the `included_in_payment_run`, `released_from_payment_run` or
`bank_status` signal — and nothing else of the lifecycle. It ends once told, with what it was
told. Real lifecycles with the same protocol are exercised by the other payment tests."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from canonical.commands import PaymentRunInclusion, PaymentSent
    from canonical.payment import BankStatusReport, PaymentInstruction
    from canonical.payment_run import ReservedPayment
    from canonical.status import ErpDocument


class StandInPayable(BaseModel):
    erp_document: ErpDocument
    instruction: PaymentInstruction  # requested_execution_date is set by the run's reservation
    approvers: list[str]


# Not sandboxed: thousands of them start in a test, and the sandbox costs each one a fresh
# module namespace; it has no I/O and reads nothing but its input and messages.
@workflow.defn(name="InvoiceToPayment", sandboxed=False)
class StandInLifecycle:
    @workflow.init
    def __init__(self, payable: StandInPayable) -> None:
        self._payable = payable
        self._run_key: str | None = None
        self._told: str | None = None

    @workflow.run
    async def run(self, payable: StandInPayable) -> str:
        await workflow.wait_condition(lambda: self._told is not None)
        return self._told

    @workflow.update
    def reserve_for_payment_run(self, inclusion: PaymentRunInclusion) -> ReservedPayment:
        self._run_key = inclusion.run_key
        instruction = self._payable.instruction.model_copy(
            update={"requested_execution_date": inclusion.execution_date})
        return ReservedPayment(workflow_id=workflow.info().workflow_id, erp_document=self._payable.erp_document,
                               instruction=instruction, approvers=self._payable.approvers)

    @reserve_for_payment_run.validator
    def _validate(self, inclusion: PaymentRunInclusion) -> None:
        if self._run_key not in (None, inclusion.run_key):
            raise ValueError(f"already in payment run {self._run_key}")

    @workflow.signal
    def included_in_payment_run(self, sent: PaymentSent) -> None:
        if sent.run_key == self._run_key and sent.end_to_end_id == self._payable.instruction.end_to_end_id:
            self._told = f"sent:{sent.message_id}"

    @workflow.signal
    def released_from_payment_run(self, sent: PaymentSent) -> None:
        if sent.run_key == self._run_key:
            self._told = "released"

    @workflow.signal
    def bank_status(self, report: BankStatusReport) -> None:
        self._told = f"bank:{report.status.value}"
