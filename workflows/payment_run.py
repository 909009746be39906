"""PaymentRun: one run for one paying account and date. Selects what is due, waits for its
release when it is above `release_above`, then (holding the paying account) lets each
lifecycle accept or refuse, claims the invoices in the ERP, builds one fixed pain.001 per
chunk, sends each once, and tells the lifecycles.

Its history holds keys, counts and file hashes only: the selection, the reservations and the
files live in the treasury store under the run key, and every call to the lifecycles is made
from an activity with bounded concurrency. A run that fails or is cancelled after reserving
gives back what it never sent; a terminated one is freed by `python -m cli payment-run
recover <run key>` (the same activity). Workflow id `payment-run-<account>` (a Schedule
appends its start time); runs of one account never overlap past their release (a lock)."""

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.payment_run import PaymentRunActivities as A
    from canonical.bank import PayingAccount
    from canonical.payment_run import (
        ErpClaims,
        LifecycleNotice,
        PaymentFileRef,
        PaymentFilesRequest,
        PaymentRunRequest,
        PaymentRunSummary,
        ReservationRequest,
        RunSelection,
        SelectionRequest,
        UnsentRelease,
    )

import workflows.activity_options as opts
from workflows import patch_generation
from workflows import search_attributes as sa
from workflows.counterpart_calls import call
from workflows.decision_audit import DecisionAudit
from workflows.outage_board import OutageBoard, show_case
from workflows.run_release import RunRelease

# Runs started before it named the account in the ERP run id by its first letter: ACME's and
# AMRO's runs of one day carried the same id. Behind it, the account's own run code
# (PayingAccount.run_code, unique among the accounts: settings refuses two alike).
RUN_CODE_PATCH = "erp-run-code-per-account-v1"


def run_identity(req: PaymentRunRequest, account: PayingAccount | None = None) -> tuple[str, str]:
    """(run key, ERP run id). The ERP's run id holds 6 characters (SAP's F110 LAUFI): the paying
    account's run code, the run date's MMDD and the run number, so runs of two accounts never
    share one. Without `account`: its first letter, as before RUN_CODE_PATCH."""
    run_key = f"{req.paying_account_id}-{req.run_date:%Y%m%d}-{req.run_number}"
    code = account.erp_run_code() if account is not None else req.paying_account_id[0]
    return run_key, f"{code}{req.run_date:%m%d}{req.run_number}"


def payment_run_workflow_id(paying_account_id: str) -> str:
    return f"payment-run-{paying_account_id}"


def _run_date(req: PaymentRunRequest) -> date:
    assert req.run_date is not None  # run() dates a request that has no run date first
    return req.run_date


@workflow.defn(name="PaymentRun")
class PaymentRun(RunRelease):
    def __init__(self) -> None:
        self._summary: PaymentRunSummary | None = None
        self._init_release()  # who requested it, its release limit and its release (run_release)
        self._outages = OutageBoard(workflow.info().workflow_id, lambda: "PaymentRun",
                                    on_change=lambda: show_case(self._outages.first()))
        self._audit = DecisionAudit(self._outages)  # requests and releases into the audit log

    async def _call(self, activity, *args, summary: str, via):
        """Every activity call: outages retry under a self-closing case (counterpart_calls)."""
        return await call(activity, *args, summary=summary, via=via, outages=self._outages)

    def _set_stage(self, stage: str) -> None:
        """Shown live in the Web UI: where the run is and what it has paid so far."""
        self._stage = stage
        s = self._summary
        paid = f" · {s.paid_invoices} paid, {s.total} {s.currency}, {s.not_taken} not taken" if s else ""
        workflow.set_current_details(f"**{stage}**{paid}")

    @workflow.run
    async def run(self, req: PaymentRunRequest) -> PaymentRunSummary:
        if not workflow.info().workflow_id.startswith(payment_run_workflow_id(req.paying_account_id)):
            # Named for its account, so treasury finds it (a Schedule appends its start time).
            raise ApplicationError(f"a payment run for {req.paying_account_id} must run as workflow id "
                                   f"{payment_run_workflow_id(req.paying_account_id)!r}", type="WorkflowIdMismatch",
                                   non_retryable=True)
        if req.run_date is None:
            req = req.model_copy(update={"run_date": workflow.now().date()})
        run_key, erp_run_id = run_identity(req)
        await self._request_and_limit(req)  # refused here when nobody verifiable asked for it
        account = await self._call(A.paying_account, req.paying_account_id,
                                   summary=f"paying account {req.paying_account_id}", via=opts.TREASURY)
        if patch_generation.has(RUN_CODE_PATCH):
            erp_run_id = run_identity(req, account)[1]
        self._summary = PaymentRunSummary(run_key=run_key, payment_run_id=erp_run_id, currency=account.currency,
                                          requested_by=self._requested_by if self._verified else None,
                                          release_above=self._release_above, decisions=self._decisions)
        await self._call(A.register_payment_run, run_key, summary=f"register run {run_key}", via=opts.TREASURY)
        self._set_stage("selecting")
        due_by = _run_date(req) + timedelta(days=req.horizon_days)
        selection = await self._call(A.select_for_payment_run, SelectionRequest(
            run_key=run_key, payment_run_id=erp_run_id, paying_account_id=req.paying_account_id, run_date=req.run_date,
            company_code=account.company_code, currency=account.currency, due_by=due_by),
            summary=f"select invoices due by {due_by}", via=opts.TREASURY_RUN_DETAIL)
        self._summary.selected = selection.invoices
        if not selection.invoices:
            self._set_stage("nothing to pay")
            await self._audit.drained()
            return self._summary
        # Nothing is committed before the release: no lock, no reservation, no ERP claim.
        execution_date = await self._await_release(selection, req)
        self._summary.execution_date = execution_date
        self._set_stage(f"waiting until no other run pays from {req.paying_account_id}")
        await self._call(A.acquire_paying_account, req.paying_account_id,
                         summary=f"wait until no other run pays from {req.paying_account_id}", via=opts.ACCOUNT_LOCK)
        try:
            await self._pay(req, run_key, erp_run_id, account, execution_date)
        finally:
            await self._call(A.release_paying_account, req.paying_account_id,
                             summary=f"free {req.paying_account_id} for the next run", via=opts.TREASURY)
        self._set_stage("done")
        await self._audit.drained()
        return self._summary

    async def _await_release(self, selection: RunSelection, req: PaymentRunRequest) -> date:
        """Above the release limit, someone who approved none of the selected invoices and did
        not request the run releases it (segregation of duties, workflows/run_release.py). The
        run pays on the day it is released (never before its run date): a file is dated when it
        may go."""
        limit = self._release_above
        if limit is None or selection.total <= limit:
            return _run_date(req)
        assert self._summary is not None  # set by run() before the selection
        self._refuse_release_by(selection.approvers)
        self._set_stage(f"awaiting release: {selection.total} {self._summary.currency} above {limit}")
        flagged = False
        while True:
            try:
                await workflow.wait_condition(lambda: self._release is not None,
                                              timeout=timedelta(hours=req.release_sla_hours),
                                              timeout_summary="release SLA")
                break
            except TimeoutError:
                if not flagged:  # visible to treasury-ops in the Web UI; the run keeps waiting
                    workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set("treasury-ops"),
                                                       sa.EXCEPTION_TYPE.value_set("RunAwaitingRelease")])
                    flagged = True
        if flagged:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_unset(), sa.EXCEPTION_TYPE.value_unset()])
        self._release_refused = None
        self._summary.released_by = self._releaser()
        self._summary.decisions = list(self._decisions)
        return max(_run_date(req), workflow.now().date())

    async def _pay(self, req: PaymentRunRequest, run_key: str, erp_run_id: str, account, execution_date: date) -> None:
        s = self._summary
        assert s is not None  # set by run() before the selection
        try:
            self._set_stage("reserving")
            reservations = await self._call(A.reserve_invoices, ReservationRequest(
                run_key=run_key, payment_run_id=erp_run_id, execution_date=execution_date, released_by=s.released_by),
                summary=f"ask {s.selected} lifecycles to join", via=opts.RUN_LIFECYCLE_CALLS)
            s.refused.update(reservations.refused_sample)
            unpayable, claimed = reservations.dropped, 0  # reserved, but the run can not pay them
            if reservations.reserved:
                self._set_stage("claiming in the ERP")
                claims = await self._call(A.claim_in_erp, ErpClaims(run_key=run_key, payment_run_id=erp_run_id,
                                                                    run_date=_run_date(req)),
                                          summary=f"claim {reservations.reserved} invoices for run {erp_run_id}",
                                          via=opts.ERP_RUN_CLAIMS)
                s.refused.update(claims.refused_sample)
                unpayable, claimed = unpayable + claims.refused, claims.claimed
            s.not_taken = reservations.refused + unpayable
            if unpayable:
                await self._call(A.tell_lifecycles, LifecycleNotice(run_key=run_key, kind="released"),
                                 summary=f"give {unpayable} invoices the run can not pay back to their lifecycles",
                                 via=opts.RUN_LIFECYCLE_CALLS)
            if not claimed:
                return
            self._set_stage("building payment files")
            files = await self._call(A.build_payment_files, PaymentFilesRequest(
                run_key=run_key, execution_date=execution_date, created_at=workflow.now(),
                max_payments_per_file=req.max_payments_per_file, debtor=account),
                summary=f"build and validate the files of {run_key}", via=opts.TREASURY_RUN_DETAIL)
            for ref in files:
                await self._send(ref, run_key)
        except (ActivityError, asyncio.CancelledError) as err:
            # Failed for a business reason, or cancelled: what was never sent goes back.
            self._set_stage("giving back what was not sent")
            freed = await self._call(A.release_unsent, UnsentRelease(
                run_key=run_key, requested_by="finsync", reason=f"run ended early: {type(err).__name__}"),
                summary=f"give back the unsent invoices of {run_key}", via=opts.RUN_LIFECYCLE_CALLS)
            self._set_stage(f"ended early: {freed.freed} invoices given back, {len(freed.refused)} may be at the bank")
            raise

    async def _send(self, ref: PaymentFileRef, run_key: str) -> None:
        s = self._summary
        assert s is not None  # set by run() before the selection
        self._set_stage(f"sending {ref.message_id}")
        try:
            await self._call(A.submit_payment_file, ref, summary=f"send {ref.message_id} ({ref.payments} payments)",
                             via=opts.BANK)
        except ActivityError as err:
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "PaymentFileRefused"):
                raise
            s.file_rejected = f"{ref.message_id}: {cause.message}"
            await self._call(A.tell_lifecycles, LifecycleNotice(
                run_key=run_key, kind="rejected", message_id=ref.message_id,
                reason_code=cause.details[0] if cause.details else "FF01"),
                summary=f"tell {ref.payments} lifecycles {ref.message_id} was refused", via=opts.RUN_LIFECYCLE_CALLS)
            s.not_taken += ref.payments
            return
        s.message_ids.append(ref.message_id)
        await self._call(A.tell_lifecycles, LifecycleNotice(run_key=run_key, kind="included",
                                                            message_id=ref.message_id),
                         summary=f"tell {ref.payments} lifecycles they are in {ref.message_id}",
                         via=opts.RUN_LIFECYCLE_CALLS)
        s.paid_invoices += ref.payments
        s.total += ref.total

    @workflow.query
    def status(self) -> dict:
        return {"stage": self._stage, "summary": self._summary.model_dump(mode="json") if self._summary else None}
