"""The business state of one lifecycle: status, history, ERP keys and the case book, mirrored
into search attributes and the Web UI's current details on every change."""

import asyncio
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from canonical.decision_record import DecisionRecord
    from canonical.invoice import Invoice
    from canonical.lifecycle_snapshot import StateSnapshot
    from canonical.status import ErpDocument, InvoiceLifecycleStatus, InvoiceStatus, StatusChange
    from identity.tokens import VerifiedPerson
    from telemetry import finance

from workflows import patch_generation
from workflows import search_attributes as sa
from workflows.exception_cases import CaseBook

# History notes are for people reading the status; keep the query answer small.
_MAX_HISTORY = 200
# The shown case's SLA in search attributes (CaseOpenedAt, CaseDueAt, CaseEscalated,
# CaseSeverity), so the reports count cases by owner and SLA state from visibility alone. A new
# upsert's content: patched, so histories written before it replay (architecture invariant 10).
CASE_SLA_PATCH = "case-sla-search-attributes-v1"
# Search-attribute changes of one workflow task go out as one upsert (each is a billable action):
# kept per attribute, last value wins, sent when the task's ready work is done (`_upsert`).
PER_TASK_PATCH = "search-attributes-per-task-v1"
# A starter may give the search attributes (and the facts memo, near_duplicates.py) the first
# task would write (workflows/lifecycle_start.py): each is an action saved. A value already shown
# is not sent again; one the starter got wrong, or forged, is overwritten or unset in that task.
START_ATTRIBUTES_PATCH = "start-attributes-v1"
# Attributes of an open case: sent in the task they change, even while a local activity runs.
_SHOWN_AT_ONCE = {key.name for key in (sa.EXCEPTION_OWNER, sa.EXCEPTION_TYPE, *sa.CASE_SLA)}
_MAX_DECISIONS = 200  # verified decisions shown; the audit trail keeps them all (invariant 13)


class LifecycleState:
    def __init__(self, invoice: Invoice) -> None:
        self.invoice = invoice
        self.status = InvoiceStatus.RECEIVED
        self.erp_document: ErpDocument | None = None
        self.payment_run_id: str | None = None
        self.payment_attempts: list = []  # the payment leg's attempts, shared for the status view
        self.einvoice_receipts: list = []  # EInvoiceReceiptRecord, kept by the supplier controls
        self.approvers: list[str] = []  # kept by the approvals mixin
        self.decisions: list[DecisionRecord] = []  # verified decisions (ap_decisions)
        self.submitted_by: str | None = None  # as shown: verified, or typed and marked unverified
        self.approval_needed: str | None = None  # while awaiting approval: what is still needed
        self._before_hold = InvoiceStatus.RECEIVED
        self._history: list[StatusChange] = []
        self._cases: CaseBook | None = None
        self._metrics = finance.LifecycleMetrics()
        # called with (status, note) after each status change (supplier answers)
        self.on_change: Callable[[InvoiceStatus, str], None] | None = None
        self.on_decided: Callable[[DecisionRecord], None] | None = None
        self._unsent: dict[str, SearchAttributeUpdate[Any]] = {}  # by attribute name, this task's last
        self._send_due = False
        self._held = 0  # statuses_held blocks running (local activities, mostly)
        self._skip_shown = False  # since START_ATTRIBUTES_PATCH: values already shown are not sent

    def start(self, cases: CaseBook) -> None:
        self._cases = cases
        inv = self.invoice
        self._skip_shown = patch_generation.has(START_ATTRIBUTES_PATCH)
        self._upsert([
            sa.INVOICE_ID.value_set(inv.key),
            sa.SUPPLIER_ID.value_set(inv.supplier_id),
            sa.COMPANY_CODE.value_set(inv.company_code),
        ])
        if self._skip_shown:
            self._upsert_case()  # no case is open yet: one a starter claims is unset (none given: nothing sent)
        self.advance(InvoiceStatus.RECEIVED, f"{inv.supplier_invoice_ref} from supplier {inv.supplier_id}")

    def snapshot(self) -> StateSnapshot:
        return StateSnapshot(
            status=self.status, before_hold=self._before_hold, history=self._history, erp_document=self.erp_document,
            payment_run_id=self.payment_run_id, einvoice_receipts=self.einvoice_receipts, approvers=self.approvers,
            decisions=self.decisions, submitted_by=self.submitted_by, approval_needed=self.approval_needed,
            first_entered=self._metrics.first, started_at=self._metrics.started_at or workflow.info().start_time,
        )

    def restore(self, snap: StateSnapshot, cases: CaseBook) -> None:
        """A run that continued as new takes over where the last one stood: no status change,
        no history line, nothing counted again."""
        self._cases = cases
        self.status, self._before_hold, self._history = snap.status, snap.before_hold, list(snap.history)
        self.erp_document, self.payment_run_id = snap.erp_document, snap.payment_run_id
        self.einvoice_receipts, self.approvers = list(snap.einvoice_receipts), list(snap.approvers)
        self.decisions, self.submitted_by = list(snap.decisions), snap.submitted_by
        self.approval_needed = snap.approval_needed
        self._metrics.first, self._metrics.started_at = dict(snap.first_entered), snap.started_at

    def show(self) -> None:
        """The Web UI's current details belong to a run: a continued run shows them again. Search
        attributes carry over; a case that opened before they held its SLA gets it now. Since
        START_ATTRIBUTES_PATCH, values the last run showed are not sent again (asked here, not in
        `restore`, which runs in __init__ and writes no commands)."""
        self._skip_shown = patch_generation.has(START_ATTRIBUTES_PATCH)
        if self._cases is not None and self._cases.shown() is not None and patch_generation.has(CASE_SLA_PATCH):
            self._upsert_case()
        self._show()

    def advance(self, status: InvoiceStatus, note: str) -> None:
        if status == InvoiceStatus.ON_HOLD and self.status != InvoiceStatus.ON_HOLD:
            self._before_hold = self.status
        self.status = status
        self._metrics.entered(status.value, self.invoice.gross_amount, self.invoice.currency)
        self._record(note)
        self._upsert([sa.INVOICE_STATUS.value_set(status.value)])
        self._show()
        if self.on_change is not None:
            self.on_change(status, note)

    def resume(self, note: str) -> None:
        """After a resolution: back to where the invoice was before it was held."""
        if self.status == InvoiceStatus.ON_HOLD:
            self.advance(self._before_hold, note)
        else:
            self.note(note)
        self.case_changed()

    def history_since_last(self, status: InvoiceStatus) -> list[StatusChange]:
        """The changes since the invoice last entered `status` (e.g. this payment attempt)."""
        for index in range(len(self._history) - 1, -1, -1):
            if self._history[index].status == status:
                return self._history[index:]
        return []

    def note(self, text: str) -> None:
        self._record(text)

    def decided(self, record: DecisionRecord, note: str) -> None:
        """A verified decision: kept as a record (one place, for the audit trail) and noted."""
        self.decisions.append(record)
        del self.decisions[:-_MAX_DECISIONS]
        self._record(f"{note}, verified {record.verified_by}")
        if self.on_decided is not None:
            self.on_decided(record)  # into the audit log (workflows/decision_audit.py)

    def record_decision(self, person: VerifiedPerson, decision: str, action: str, before: str | None = None,
                        after: str | None = None) -> None:
        """A verified person's decision (architecture invariants 8 and 13), kept through `decided`."""
        self.decided(DecisionRecord(decision=decision, who=person.subject, verified_by=person.verified_by,
                                    token_id=person.token_id, action=action, before=before, after=after,
                                    at=workflow.now()), f"{action} by {person.subject}")

    def token_used(self, person: VerifiedPerson) -> bool:
        """A decision token is taken once per lifecycle (its jti), continued runs included."""
        return any(d.token_id == person.token_id for d in self.decisions)

    def case_changed(self) -> None:
        """A case opened, escalated or closed: the search attributes show the one people see first."""
        self._upsert_case()
        self._show()

    def case_closed(self) -> None:
        """A case closed on the way to the end (cleared, cancelled): its attributes go with it, so
        a query for overdue cases finds no ended lifecycle. Earlier runs ended showing it."""
        if patch_generation.has(CASE_SLA_PATCH):
            self.case_changed()

    def _upsert_case(self) -> None:
        case = self._cases.shown() if self._cases else None
        # Memoised by the SDK: a run decides once whether it writes the SLA attributes.
        with_sla = patch_generation.has(CASE_SLA_PATCH)
        if case is None:
            self._upsert([sa.EXCEPTION_OWNER.value_unset(), sa.EXCEPTION_TYPE.value_unset(),
                          *((key.value_unset() for key in sa.CASE_SLA) if with_sla else ())])
            return
        updates: list[SearchAttributeUpdate[Any]] = [sa.EXCEPTION_OWNER.value_set(case.owner.value),
                                                     sa.EXCEPTION_TYPE.value_set(case.type)]
        if with_sla:
            updates += [sa.CASE_OPENED_AT.value_set(case.opened_at), sa.CASE_DUE_AT.value_set(case.sla_due_at),
                        sa.CASE_ESCALATED.value_set(case.escalated), sa.CASE_SEVERITY.value_set(case.severity.value)]
        self._upsert(updates)

    def _upsert(self, updates: Sequence[SearchAttributeUpdate[Any]]) -> None:
        """One upsert per change for histories from before PER_TASK_PATCH; since then one per
        workflow task. The send is queued on the workflow's event loop, which runs everything
        ready, the send included, before it completes the task; `send_search_attributes`
        sends what is left before the run's last command (completion, continue-as-new)."""
        if not patch_generation.has(PER_TASK_PATCH):
            workflow.upsert_search_attributes(list(updates))
            return
        for update in updates:
            self._unsent[update.key.name] = update
        if not self._send_due:
            self._send_due = True
            asyncio.get_running_loop().call_soon(self.send_search_attributes)

    def send_search_attributes(self) -> None:
        """This task's search-attribute changes as one upsert, if any are unsent. While a local
        activity runs, the task is not over: the status waits for it, a case is shown at once."""
        self._send_due = False
        if self._held and not self._unsent.keys() & _SHOWN_AT_ONCE:
            return
        if self._unsent:
            updates, self._unsent = list(self._unsent.values()), {}
            if self._skip_shown:  # the SDK keeps info's attributes as last upserted
                shown = workflow.info().typed_search_attributes
                updates = [u for u in updates if shown.get(u.key) != u.value]
            if updates:
                workflow.upsert_search_attributes(updates)

    @contextmanager
    def statuses_held(self) -> Iterator[None]:
        """Around a local activity (workflows/counterpart_calls.py), whose task goes on after it,
        or a call whose answer decides the next status at once: the status changes before, during
        and after it go out together, when the workflow next waits outside such a block."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if self._unsent and not self._send_due:
                self._send_due = True
                asyncio.get_running_loop().call_soon(self.send_search_attributes)

    def view(self) -> InvoiceLifecycleStatus:
        inv = self.invoice
        return InvoiceLifecycleStatus(
            invoice_key=inv.key,
            status=self.status,
            supplier_id=inv.supplier_id,
            company_code=inv.company_code,
            gross_amount=inv.gross_amount,
            currency=inv.currency,
            due_date=inv.net_due_date.isoformat(),
            erp_document=self.erp_document,
            payment_run_id=self.payment_run_id,
            payment_attempts=list(self.payment_attempts),
            open_exception=self._cases.shown() if self._cases else None,
            open_outages=list(self._cases.outages.open.values()) if self._cases else [],
            open_side_cases=list(self._cases.side.values()) if self._cases else [],
            closed_exceptions=self._cases.all_closed() if self._cases else [],
            history=list(self._history),
            einvoice_receipts=list(self.einvoice_receipts),
            approvers=list(self.approvers),
            bank_account_id=inv.bank_account_id,
            submitted_by=self.submitted_by,
            approval_needed=self.approval_needed,
            decisions=list(self.decisions),
        )

    def _record(self, note: str) -> None:
        self._history.append(StatusChange(status=self.status, at=workflow.now(), note=note))
        del self._history[:-_MAX_HISTORY]

    def _show(self) -> None:
        """Live details in the Web UI: what a finance engineer asks first."""
        inv = self.invoice
        lines = [
            f"**{self.status.value}** · {inv.supplier_invoice_ref} · supplier {inv.supplier_id}",
            f"{inv.gross_amount} {inv.currency}, due {inv.net_due_date}",
        ]
        if self.erp_document:
            # Opaque: the document number as the ERP shows it, never an ERP's own parts (its year).
            lines.append(f"ERP document {self.erp_document.invoice_document} ({self.erp_document.erp})")
        case = self._cases.shown() if self._cases else None
        if case:
            lines.append(f"exception {case.type} owned by {case.owner.value}: {case.reason}")
        workflow.set_current_details("\n\n".join(lines))
