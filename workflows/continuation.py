"""Continue-as-new for InvoiceToPayment, a mixin (it shares the lifecycle's state, cases and waits).

A lifecycle lives for months: escalations every SLA, e-invoice pushes, bank messages, hints
and operator signals all add events, and Temporal ends a run at 51,200 events or 50 MB.

- **Where.** Only at the long waits, each named by a WaitPoint (canonical.lifecycle_snapshot):
  awaiting approval, held in a step of the main flow, scheduled for a payment run (and the
  document-conflict and bank-detail holds there), awaiting remediation, settled and waiting for
  the ERP's clearing. The code around each wait marks it `with self._continuable(point)`.
- **When.** Temporal suggests it (`is_continue_as_new_suggested`: by default 4,096 events or
  4 MB, per namespace `limit.historyCount/historySize.suggestContinueAsNew`), or the history
  passed our own bound (`LifecyclePolicy.continue_after_events`, 8,000; 8 MB below), and
  nothing is in flight: no update or signal handler running, no supplier answer queued or
  being sent, no bank check running. The wait's condition includes this (`_continue_due`),
  so a flood of signals wakes it.
- **How.** `_wait` then calls `_continue_as_new`: a LifecycleSnapshot of everything, and the
  point it waited at. Workflow id, memo (the policy) and search attributes carry over (the
  SDK's default for continue-as-new).
- **Resume.** `__init__` restores the snapshot before any signal or update of the new run is
  handled; `run` re-enters the main flow at the snapshot's stage, and that wait picks up its
  absolute deadlines (case SLA, approval SLA, due date, clearing SLA, next look at the ERP).

Replay: a history recorded before this existed may already be past the suggestion while it
waited; waking there would not replay. So the first continuable wait of each run asks
`patch_generation.has(CONTINUE_PATCH)`: lifecycles started before keep waiting as they did.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canonical.lifecycle_snapshot import (
        AnswersSnapshot,
        ControlsSnapshot,
        DecisionsSnapshot,
        LifecycleSnapshot,
        PendingAnswer,
        WaitingAt,
        WaitPoint,
    )

from workflows import patch_generation
from workflows.lifecycle_parts import LifecycleParts

CONTINUE_PATCH = "continue-as-new-v1"
# Our own bound on size, for a namespace whose suggestion is set higher: below Temporal's
# warning at 10 MB, well below its hard limit of 50 MB. The bound on events is the policy's
# `continue_after_events` (8,000 by default: below the warning at 10,240 events).
MAX_HISTORY_BYTES = 8 * 1024 * 1024


class Continuation(LifecycleParts):
    def _init_continuation(self, resume: LifecycleSnapshot | None) -> None:
        self._continue_at: WaitPoint | None = None  # the wait the main flow is in, if it may continue there
        self._may_continue = False
        self._runs = resume.runs if resume else 1
        if resume is not None:
            self._restore(resume)

    @contextmanager
    def _continuable(self, at: WaitPoint) -> Iterator[None]:
        """Within: the lifecycle may continue as new while it waits, and resume at `at`."""
        self._may_continue = patch_generation.has(CONTINUE_PATCH)  # memoised by the SDK: one marker per run
        outer, self._continue_at = self._continue_at, at
        try:
            yield
        finally:
            self._continue_at = outer

    def _continue_due(self) -> bool:
        """Read in wait conditions: no commands, only what the history and the state say."""
        if self._continue_at is None or not self._may_continue:
            return False
        info = workflow.info()
        long = (info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= self._policy.continue_after_events
                or info.get_current_history_size() >= MAX_HISTORY_BYTES)
        return long and workflow.all_handlers_finished() and self._nothing_in_flight()

    def _nothing_in_flight(self) -> bool:
        # An answer leaves the queue only once sent; a bank check is a task until the bank decided.
        return (not self._answer_queue and all(check.done() for check in self._bank_checks)
                and self._audit.idle())

    def _continue_as_new(self) -> NoReturn:
        info = workflow.info()
        assert self._continue_at is not None  # _continue_due() said so
        snapshot = self._snapshot(self._continue_at)
        workflow.logger.info("%s continues as new at %s (run %d, %d events, %d bytes of history)",
                             self._state.invoice.key, snapshot.waiting.at.value, self._runs,
                             info.get_current_history_length(), info.get_current_history_size())
        workflow.continue_as_new(args=[snapshot.invoice, snapshot])

    # -- the snapshot -------------------------------------------------------------------------
    def _snapshot(self, at: WaitPoint) -> LifecycleSnapshot:
        pending = [PendingAnswer(code=code, reasons=reasons, note=note)
                   for code, reasons, note in self._wanted[self._wanted_done:]]
        return LifecycleSnapshot(
            invoice=self._state.invoice, policy=self._policy, waiting=at, state=self._state.snapshot(),
            cases=self._cases.snapshot(), validated=self._validated, approval_due=self._approval_due,
            payment=self._pay.snapshot(),
            controls=ControlsSnapshot(
                seen_documents=self._seen_documents, conflicts=self._conflicts, conflict_case_id=self._conflict_case_id,
                documents_refused=self._documents_refused,
                bank_changes=self._bank_changes, bank_case_id=self._bank_case_id,
                bank_confirmation=self._bank_confirmation, input_case_id=self._input_case_id,
                cooling_off_until=self._cooling_off_until, payee_claims=self._payee_claims,
                confirmed_accounts=self._confirmed_accounts),
            answers=AnswersSnapshot(receipt=self._answer_receipt, pending=pending, codes=self._answer_codes,
                                    queue=self._answer_queue),
            resolution=self._resolution, runs=self._runs + 1,
            decisions=None if self._controls is None else DecisionsSnapshot(
                controls=self._controls, approvals=self._approvals, submitter=self._submitter, excluded=self._excluded,
                used_tokens=self._used_tokens, reapproval_due=self._reapproval_due),
        )

    def _restore(self, snap: LifecycleSnapshot) -> None:
        """Pure state, no commands: called from __init__, before the new run handles anything."""
        self._cases.restore(snap.cases)
        self._state.restore(snap.state, self._cases)
        self._validated, self._approval_due, self._resolution = snap.validated, snap.approval_due, snap.resolution
        # Updates in the new run's first task are validated before its main flow runs.
        self._awaiting_approval = snap.waiting.at is WaitingAt.APPROVAL
        self._pay.restore(snap.payment)
        controls = snap.controls
        self._seen_documents, self._conflicts = list(controls.seen_documents), list(controls.conflicts)
        self._conflict_case_id, self._bank_case_id = controls.conflict_case_id, controls.bank_case_id
        self._documents_refused = controls.documents_refused
        self._bank_changes, self._bank_confirmation = list(controls.bank_changes), controls.bank_confirmation
        self._input_case_id = controls.input_case_id
        self._cooling_off_until, self._payee_claims = controls.cooling_off_until, list(controls.payee_claims)
        self._confirmed_accounts = list(controls.confirmed_accounts)
        answers = snap.answers
        self._answer_receipt, self._answer_codes = answers.receipt, list(answers.codes)
        self._wanted = [(p.code, list(p.reasons), p.note) for p in answers.pending]
        self._wanted_done = 0
        self._answer_queue = list(answers.queue)
        if snap.decisions is not None:  # a lifecycle started since verified-decisions-v1
            d = snap.decisions
            self._controls, self._approvals, self._submitter = d.controls, list(d.approvals), d.submitter
            self._excluded, self._used_tokens, self._reapproval_due = dict(d.excluded), list(d.used_tokens), \
                d.reapproval_due
