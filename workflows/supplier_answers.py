"""Answers to the supplier, a mixin of InvoiceToPayment: Peppol Invoice Responses (T111) sent
back through the e-invoice network for lifecycles that received an e-invoice.

AB when the first receipt is recorded; UQ (once) when the invoice goes ON_HOLD; AP once it is
approved and POSTED; PD once CLEARED; RE (with reason codes) when it ends CANCELLED before AP.
Every status change is remembered whether or not a receipt came (no commands), and answered
once a receipt with the supplier's endpoint is there, in order, skipping anything Peppol's
order (canonical.invoice_response.allowed_next) does not allow and never the same code twice.
What the supplier reads is only the fixed, reviewed texts of canonical.supplier_texts, chosen by
the case type: never a case reason, a person's name or a note (the status note stays ours).

One background coroutine sends the queue one response at a time; the response id is derived
from the invoice key and code, so a retry or a replay after a crash sends it once. An
unreachable access point is retried (opts.EINVOICE) but never blocks payment; a refusal is
noted in the history. Before the lifecycle returns it waits for the queue to drain.

Lifecycles without a receipt (CLI-started, recorded histories) send nothing.
"""

import asyncio

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.supplier_responses import SupplierResponseActivities
    from canonical.einvoice import EInvoiceReceipt
    from canonical.invoice_response import InvoiceResponse, ResponseCode, allowed_next
    from canonical.status import InvoiceStatus as S
    from canonical.supplier_texts import NOTES, case_type_of, reviewed, supplier_reasons

import workflows.activity_options as opts
from workflows.lifecycle_parts import LifecycleParts

C = ResponseCode

_CODE_FOR = {S.ON_HOLD: C.UQ, S.POSTED: C.AP, S.CLEARED: C.PD, S.CANCELLED: C.RE}


class SupplierAnswers(LifecycleParts):
    def _init_answers(self) -> None:
        self._answer_receipt: EInvoiceReceipt | None = None
        self._wanted: list[tuple[ResponseCode, list[tuple[str, str]], str]] = []  # every status change to tell
        self._wanted_done = 0  # how many of _wanted were looked at
        self._answer_codes: list[ResponseCode] = []  # enqueued, in order
        self._answer_queue: list[InvoiceResponse] = []
        self._answers_closed = False

    # -- what the lifecycle calls ---------------------------------------------------------
    def _status_changed(self, status: S, note: str) -> None:
        """LifecycleState.advance calls this on every status change."""
        code = _CODE_FOR.get(status)
        if code is None:
            return
        # Peppol T111-R001: a query or rejection names its reason, a reviewed text for the case type.
        reasons = supplier_reasons(code, case_type_of(note) if code is C.UQ else "", bool(self._conflicts))
        self._wanted.append((code, reasons, note))
        self._flush_answers()

    def _receipt_for_answers(self, receipt: EInvoiceReceipt) -> None:
        if self._answer_receipt is not None:
            return
        self._answer_receipt = receipt
        self._enqueue(C.AB, [], "received")
        self._flush_answers()

    async def _answer_supplier(self) -> None:
        """The background sender: started with the run, idle (no commands) without a receipt."""
        while True:
            await workflow.wait_condition(lambda: bool(self._answer_queue) or self._answers_closed)
            if not self._answer_queue:
                return
            response = self._answer_queue[0]
            try:
                result = await self._call(SupplierResponseActivities.send_invoice_response, response,
                                          summary=f"tell the supplier {response.code.value} for {response.document_id}",
                                          via=opts.EINVOICE)
                self._state.note(f"supplier told {response.code.value} ({result})")
            except ActivityError as err:
                cause = err.cause
                what = cause.message if isinstance(cause, ApplicationError) else str(cause)
                self._state.note(f"supplier answer {response.code.value} not delivered: {what}")
            self._answer_queue.pop(0)

    async def _drain_answers(self, sender: asyncio.Task) -> None:
        self._answers_closed = True
        await sender

    # -- inside ---------------------------------------------------------------------------
    def _flush_answers(self) -> None:
        if self._answer_receipt is None:
            return
        while self._wanted_done < len(self._wanted):
            code, reasons, note = self._wanted[self._wanted_done]
            self._wanted_done += 1
            last = self._answer_codes[-1] if self._answer_codes else None
            if code in self._answer_codes or not allowed_next(last, code):
                continue
            self._enqueue(code, reasons, note)

    def _enqueue(self, code: ResponseCode, reasons: list[tuple[str, str]], note: str) -> None:
        receipt, inv = self._answer_receipt, self._state.invoice
        assert receipt is not None  # answers start with the receipt
        supplier_name = ((self._validated.supplier_name if self._validated is not None else None)
                         or receipt.supplier_endpoint)
        self._answer_codes.append(code)
        # `note` is our status note (names, cases): the supplier gets the code's fixed note, and
        # reasons carried over from a run before these texts are reviewed again.
        self._answer_queue.append(reviewed(InvoiceResponse(
            invoice_key=inv.key, document_id=receipt.document_id, supplier_endpoint=receipt.supplier_endpoint,
            code=code, reasons=reasons, note=NOTES[code], supplier_name=supplier_name,
            # Our party is the company code's legal entity, named by the sending activity from the
            # configuration (no command here; never another entity's identity).
            company_code=inv.company_code, document_issue_date=receipt.issue_date,
        )))
