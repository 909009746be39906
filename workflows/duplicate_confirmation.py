"""`confirm_not_duplicate`: AP says an invoice held as a PossibleDuplicate is a different
invoice, so it may be posted (workflows/near_duplicates.py holds it until then). A mixin of
InvoiceToPayment. The person is who the decision token names (architecture invariant 8): an AP
role, not the verified submitter, and the decision goes to the audit log like every other."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.commands import ConfirmNotDuplicate, ResolveException

from workflows.ap_decisions import decider
from workflows.lifecycle_parts import LifecycleParts


class DuplicateConfirmation(LifecycleParts):
    def _init_duplicate_confirmation(self) -> None:
        self._duplicate_case_id: str | None = None  # the open PossibleDuplicate case
        self._not_duplicate: ConfirmNotDuplicate | None = None

    @workflow.update
    def confirm_not_duplicate(self, request: ConfirmNotDuplicate) -> str:
        self._not_duplicate = request
        d = decider(request.token, None)
        self._decided(d, "confirm_not_duplicate", None, before=self._duplicate_case_id, after="not a duplicate")
        assert self._duplicate_case_id is not None  # checked by the validator
        return self._duplicate_case_id

    @confirm_not_duplicate.validator
    def _validate_confirm_not_duplicate(self, request: ConfirmNotDuplicate) -> None:
        person = self._verified(request.token, "confirm_not_duplicate")
        self._check_four_eyes(person.subject, "confirm invoice as distinct")
        open_case = self._cases.open
        if open_case is None or open_case.case_id != self._duplicate_case_id or self._not_duplicate is not None:
            raise ValueError(f"invoice {self._state.invoice.key} is not held as a possible duplicate")
        if request.case_id is not None and request.case_id != open_case.case_id:
            raise ValueError(f"invoice {self._state.invoice.key} has no open case {request.case_id}; "
                             f"open: {open_case.case_id}")

    def _check_resolve(self, request: ResolveException) -> None:
        """`resolve` can not end a PossibleDuplicate hold: either the invoice is distinct
        (confirm_not_duplicate) or it is the duplicate (cancel)."""
        open_case = self._cases.open
        if open_case is not None and open_case.case_id == self._duplicate_case_id:
            raise ValueError(f"{open_case.case_id} is a possible duplicate: confirm_not_duplicate when this invoice "
                             "is a different one, cancel it when it is the same")
        super()._check_resolve(request)
