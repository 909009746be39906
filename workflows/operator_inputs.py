"""Operator input that cannot be applied is shown, never dropped: a mixin of InvoiceToPayment.

Signals are fire-and-forget: `temporal workflow signal` answers "succeeded" whatever the
workflow makes of it. So a signal whose payload does not validate, or whose name the
lifecycle does not know (`bank_rejected` for `bank_rejection`), opens an
OperatorInputRejected case for a person and a line in the status history, instead of a
warning in a worker log. People should use the updates, which refuse at once.
"""

from collections.abc import Sequence
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from canonical.exceptions import ExceptionOwner, Severity

from workflows import patch_generation
from workflows.lifecycle_parts import LifecycleParts

INPUTS_PATCH = "operator-inputs-v1"
INPUT_CASE = "OperatorInputRejected"
_MAX_REASON = 900
M = TypeVar("M")

# Signals this lifecycle answers to; anything else is a typo or a forgery.
KNOWN_SIGNALS = ("bank_status", "bank_statuses", "bank_rejection", "settled", "returned", "statement_posted",
                 "included_in_payment_run", "released_from_payment_run", "einvoice_received", "einvoice_refused",
                 "bank_details_changed")


class OperatorInputs(LifecycleParts):
    def _init_operator_inputs(self) -> None:
        self._input_case_id: str | None = None

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        if not patch_generation.has(INPUTS_PATCH):
            return  # histories from before: the signal was left unhandled
        self._input_rejected(name, f"this lifecycle has no signal {name!r} (it knows {', '.join(KNOWN_SIGNALS)}; "
                                   "for decisions use the updates, which answer at once)")

    def _decode(self, name: str, payload: RawValue, model: type[M]) -> M | None:
        """The payload as `model`, or None after the refusal was made visible."""
        try:
            return workflow.payload_converter().from_payload(payload.payload, model)
        except Exception as err:  # noqa: BLE001 - any decoding failure is the sender's, and must show
            self._input_rejected(name, f"the input is not a valid {model.__name__}: {_short(err)}")
            return None

    def _input_rejected(self, name: str, why: str) -> None:
        owner = (ExceptionOwner.TREASURY_OPS if name.startswith(("bank", "settled", "returned"))
                 else ExceptionOwner.AP_REMEDIATION)
        text = f"signal {name!r} not applied: {why}"
        self._state.note(text[:_MAX_REASON])
        workflow.logger.warning("%s: %s", self._state.invoice.key, text)
        case = self._cases.side.get(self._input_case_id) if self._input_case_id else None
        if case is None:
            case = self._cases.open_side(INPUT_CASE, text[:_MAX_REASON], owner, severity=Severity.MEDIUM)
            self._input_case_id = case.case_id
        else:  # one case collects them; its reason keeps the newest, bounded
            count = int(case.reason.split(" refusals")[0]) + 1 if " refusals" in case.reason else 2
            self._cases.side[case.case_id] = case.model_copy(
                update={"reason": f"{count} refusals; newest: {text}"[:_MAX_REASON]})
        self._state.case_changed()


def _short(err: Exception) -> str:
    return " ".join(str(err).split())[:400]
