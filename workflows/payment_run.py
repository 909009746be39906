"""PaymentRun: one run for one paying account and date. Selects what is due, lets each
lifecycle accept or refuse, claims the invoices in the ERP, builds one fixed pain.001 per
chunk, sends it once, and tells the lifecycles. Workflow id `payment-run-<account>`:
Temporal allows one open run per id, so runs for one paying account never overlap."""

import asyncio
from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.payment_run import PaymentRunActivities as A
    from canonical.bank import PaymentFile
    from canonical.commands import PaymentSent
    from canonical.payment import BankStatus, BankStatusReport, PaymentRecord
    from canonical.payment_run import (DueInvoicesQuery, ErpClaims, PaymentRelease, PaymentRunRequest, PaymentRunSummary,
                                       ReservationRequest, ReservedPayment)
    import workflows.activity_options as opts
    from workflows import search_attributes as sa
    from workflows.counterpart_calls import call
    from workflows.outage_board import OutageBoard, show_case


# Histories recorded before lifecycles were told concurrently still replay the old way.
CONCURRENT_SIGNALS = "concurrent-signals-v1"


def run_identity(req: PaymentRunRequest) -> tuple[str, str]:
    """(run key, ERP run id). The ERP's PaymentRunID holds 6 characters (F110's LAUFI)."""
    run_key = f"{req.paying_account_id}-{req.run_date:%Y%m%d}-{req.run_number}"
    return run_key, f"{req.paying_account_id[0]}{req.run_date:%m%d}{req.run_number}"


def payment_run_workflow_id(paying_account_id: str) -> str:
    return f"payment-run-{paying_account_id}"


@workflow.defn(name="PaymentRun")
class PaymentRun:
    def __init__(self) -> None:
        self._summary: PaymentRunSummary | None = None
        self._stage = "starting"
        self._release_refused: set[str] | None = None  # while awaiting release: who may not release
        self._release: PaymentRelease | None = None
        self._outages = OutageBoard(workflow.info().workflow_id, lambda: "PaymentRun",
                                    on_change=lambda: show_case(self._outages.first()))

    async def _call(self, activity, *args, summary: str, via):
        """Every activity call: outages retry under a self-closing case (counterpart_calls)."""
        return await call(activity, *args, summary=summary, via=via, outages=self._outages)

    def _set_stage(self, stage: str) -> None:
        """Shown live in the Web UI: where the run is and what it has paid so far."""
        self._stage = stage
        s = self._summary
        paid = f" · {s.paid_invoices} paid, {s.total} {s.currency}, {len(s.refused)} not taken" if s else ""
        workflow.set_current_details(f"**{stage}**{paid}")

    @workflow.run
    async def run(self, req: PaymentRunRequest) -> PaymentRunSummary:
        if not workflow.info().workflow_id.startswith(payment_run_workflow_id(req.paying_account_id)):
            # Named for its account, so treasury finds it (a Schedule appends its start time).
            raise ApplicationError(f"a payment run for {req.paying_account_id} must run as workflow id "
                                   f"{payment_run_workflow_id(req.paying_account_id)!r}", type="WorkflowIdMismatch", non_retryable=True)
        if req.run_date is None:
            req = req.model_copy(update={"run_date": workflow.now().date()})
        run_key, erp_run_id = run_identity(req)
        account = await self._call(A.paying_account, req.paying_account_id,
                                                         summary=f"paying account {req.paying_account_id}", via=opts.TREASURY)
        await self._call(A.acquire_paying_account, req.paying_account_id,
                                               summary=f"wait until no other run pays from {req.paying_account_id}", via=opts.ACCOUNT_LOCK)
        try:
            return await self._pay(req, run_key, erp_run_id, account)
        finally:
            await self._call(A.release_paying_account, req.paying_account_id,
                                                   summary=f"free {req.paying_account_id} for the next run", via=opts.TREASURY)

    async def _pay(self, req: PaymentRunRequest, run_key: str, erp_run_id: str, account) -> PaymentRunSummary:
        self._summary = PaymentRunSummary(run_key=run_key, payment_run_id=erp_run_id, currency=account.currency)
        await self._call(A.register_payment_run, run_key, summary=f"register run {run_key}", via=opts.TREASURY)
        self._set_stage("selecting")
        due = await self._call(
            A.select_due_invoices,
            DueInvoicesQuery(company_code=account.company_code, currency=account.currency,
                             due_by=req.run_date + timedelta(days=req.horizon_days)),
            summary=f"invoices due by {req.run_date + timedelta(days=req.horizon_days)}", via=opts.TREASURY)
        if not due:
            self._set_stage("nothing to pay")
            return self._summary
        self._set_stage("reserving")
        reservations = await self._call(
            A.reserve_invoices,
            ReservationRequest(run_key=run_key, payment_run_id=erp_run_id, execution_date=req.run_date,
                               invoice_keys=[o.invoice_key for o in due]),
            summary=f"ask {len(due)} lifecycles to join", via=opts.LIFECYCLE_CALLS)
        self._summary.refused.update(reservations.refused)
        await self._await_release(reservations.reserved, req)
        payable = await self._claim(reservations.reserved, erp_run_id, req, run_key)
        for index in range(0, len(payable), req.max_payments_per_file):
            await self._send(payable[index:index + req.max_payments_per_file], index // req.max_payments_per_file + 1,
                             run_key, account, req)
        self._set_stage("done")
        return self._summary

    async def _await_release(self, reserved: list[ReservedPayment], req: PaymentRunRequest) -> None:
        """Above `release_above`, someone who approved none of the run's invoices releases it
        (segregation of duties) before anything is claimed or sent. Without `release_above`
        nothing happens here, so runs and histories from before are unchanged."""
        total = sum((r.instruction.amount for r in reserved), Decimal(0))
        if req.release_above is None or total <= req.release_above:
            return
        self._release_refused = {a.strip().casefold() for r in reserved for a in r.approvers}
        self._set_stage(f"awaiting release: {total} {self._summary.currency} above {req.release_above}")
        flagged = False
        while True:
            try:
                await workflow.wait_condition(lambda: self._release is not None, timeout=timedelta(hours=req.release_sla_hours),
                                              timeout_summary="release SLA")
                break
            except asyncio.TimeoutError:
                if not flagged:  # visible to treasury-ops in the Web UI; the run keeps waiting
                    workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set("treasury-ops"),
                                                       sa.EXCEPTION_TYPE.value_set("RunAwaitingRelease")])
                    flagged = True
        if flagged:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_unset(), sa.EXCEPTION_TYPE.value_unset()])
        self._release_refused = None
        self._summary.released_by = self._release.released_by

    @workflow.update
    def release(self, release: PaymentRelease) -> str:
        self._release = release
        return f"released by {release.released_by}"

    @release.validator
    def _validate_release(self, release: PaymentRelease) -> None:
        if self._release_refused is None or self._release is not None:
            raise ValueError(f"payment run is {self._stage}, not awaiting a release")
        who = release.released_by.strip().casefold()
        if not who:
            raise ValueError("a release needs the releaser's identity")
        if who in self._release_refused:
            raise ValueError(f"{release.released_by} approved invoices in this run and can not release it "
                             "(segregation of duties)")

    async def _claim(self, reserved: list[ReservedPayment], erp_run_id: str, req: PaymentRunRequest,
                     run_key: str) -> list[ReservedPayment]:
        """Claim in the ERP; whatever the ERP refuses goes back to its lifecycle unsent."""
        if not reserved:
            return []
        self._set_stage("claiming in the ERP")
        claims = await self._call(
            A.claim_in_erp, ErpClaims(payment_run_id=erp_run_id, run_date=req.run_date,
                                      documents=[r.erp_document for r in reserved]),
            summary=f"claim {len(reserved)} invoices for run {erp_run_id}", via=opts.ERP)
        payable, released = [], []
        for r in reserved:
            if r.erp_document.invoice_document in claims.refused:
                self._summary.refused[r.instruction.invoice_key] = claims.refused[r.erp_document.invoice_document]
                released.append((r, "released_from_payment_run",
                                 PaymentSent(run_key=run_key, message_id="", end_to_end_id=r.instruction.end_to_end_id)))
            else:
                payable.append(r)
        await self._tell_all(released)
        return payable

    async def _send(self, chunk: list[ReservedPayment], number: int, run_key: str, account, req: PaymentRunRequest) -> None:
        message_id = f"FS-{run_key}-{number:02d}"
        payment_file = PaymentFile(message_id=message_id, payment_info_id=f"{message_id}-P", created_at=workflow.now(),
                                   execution_date=req.run_date, debtor=account, payments=[r.instruction for r in chunk])
        self._set_stage(f"sending {message_id}")
        await self._call(A.register_payments, [
            PaymentRecord(end_to_end_id=r.instruction.end_to_end_id, invoice_key=r.instruction.invoice_key,
                          workflow_id=r.workflow_id, run_key=run_key, message_id=message_id,
                          payment_info_id=payment_file.payment_info_id, attempt=r.instruction.attempt,
                          amount=r.instruction.amount, currency=r.instruction.currency,
                          remittance_reference=r.instruction.remittance_reference,
                          accounting_document=r.erp_document.accounting_document) for r in chunk],
            summary=f"register {len(chunk)} payments of {message_id}", via=opts.TREASURY)
        # The file's bytes become history here: every retry below sends exactly these bytes.
        xml = await self._call(A.build_payment_file, payment_file,
                                                     summary=f"build and validate {message_id}", via=opts.TREASURY)
        try:
            await self._call(A.submit_payment_file, xml, summary=f"send {message_id} to the bank", via=opts.BANK)
        except ActivityError as err:
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "PaymentFileRefused"):
                raise
            reason = cause.details[0] if cause.details else "FF01"
            self._summary.file_rejected = f"{message_id}: {cause.message}"
            # The whole file was refused: each payment is rejected with the file's reason.
            await self._tell_all([(r, "bank_status", BankStatusReport(
                message_id=f"refused:{message_id}", original_message_id=message_id,
                end_to_end_id=r.instruction.end_to_end_id, status=BankStatus.REJECTED, reason_code=reason)) for r in chunk])
            return
        self._summary.message_ids.append(message_id)
        await self._tell_all([(r, "included_in_payment_run", PaymentSent(
            run_key=run_key, message_id=message_id, end_to_end_id=r.instruction.end_to_end_id)) for r in chunk])
        self._summary.paid_invoices += len(chunk)
        self._summary.total += sum((r.instruction.amount for r in chunk), Decimal(0))

    async def _tell(self, reserved: ReservedPayment, signal: str, arg) -> None:
        await workflow.get_external_workflow_handle(reserved.workflow_id).signal(signal, arg)

    async def _tell_all(self, signals: list[tuple[ReservedPayment, str, object]]) -> None:
        """One signal per lifecycle. One at a time they run at ~10/s (bench/payment_cycle.py);
        concurrently a 500-payment file's lifecycles are told in about a second."""
        if workflow.patched(CONCURRENT_SIGNALS):
            await asyncio.gather(*(self._tell(r, signal, arg) for r, signal, arg in signals))
        else:  # histories from before the change replay as they ran
            for r, signal, arg in signals:
                await self._tell(r, signal, arg)

    @workflow.query
    def status(self) -> dict:
        return {"stage": self._stage, "summary": self._summary.model_dump(mode="json") if self._summary else None}
