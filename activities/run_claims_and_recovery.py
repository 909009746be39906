"""A payment run's claims in the ERP, and giving back what it never sent.

Claims go a chunk at a time to the ERP of the run's paying account (ErpPort.claim_for_payment_run;
SAP: `$batch`, adapters/sap_run_claims.py); after each chunk
the store records which invoices are claimed or refused, and the heartbeat says how far the
claim got. A retry (a worker lost, a heartbeat missed, SAP down for a while) starts with the
invoices still RESERVED: documents claimed before are neither read nor written again, and the
chunk that was in flight is read again and written only where SAP does not show the claim.

`release_unsent` frees the invoices of a run that failed, was cancelled or was terminated,
and never anything that may be at the bank: a file whose submission started (SUBMITTING, the
outcome unknown) keeps its invoices, and the file is withdrawn (BUILT → WITHDRAWN, a
compare-and-set that excludes a submission) before any of its invoices is freed."""

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from activities.errors import business_error, transient_error
from adapters.erp_directory import ErpDirectory
from adapters.erp_errors import ErpBusinessError, ErpOutcomeUnknown, ErpTransientError
from adapters.erp_port import ErpPort
from adapters.payment_run_store import (
    BUILT,
    CLAIMED,
    DROPPED,
    ERP_REFUSED,
    FILED,
    RESERVED,
    SELECTED,
    SENT,
    SUBMITTING,
    WITHDRAWN,
    PaymentRunStore,
    RunItemRow,
)
from canonical.payment_run import (
    ErpClaimResult,
    ErpClaims,
    LifecycleNotice,
    NoticeResult,
    UnsentRelease,
    UnsentReleaseResult,
)
from canonical.status import ErpDocument

CLAIM_CHUNK = 250  # invoices per $batch: ~0.35 s on mock-sap (5,000 in ~7 s), well inside one SAP timeout
SAMPLE = 20  # refusals named in a result; the store has them all

Progress = Callable[[object], None]


def erp_document(item: RunItemRow, erp: str) -> ErpDocument:
    """The item's document as the run's ERP made it (a run pays for one company code: one ERP)."""
    return ErpDocument(invoice_document=item.invoice_document, fiscal_year=item.fiscal_year or "",
                       accounting_document=item.accounting_document or "", erp=erp)


def _document(item: RunItemRow) -> str:
    assert item.invoice_document is not None, f"{item.invoice_key} is reserved without its ERP document"
    return item.invoice_document


def _erp_unavailable(e: Exception):
    return transient_error(f"ERP unavailable for the payment-run claim: {e}", getattr(e, "retry_after", None))


class RunClaimsAndRecovery:
    _runs: PaymentRunStore
    _erps: ErpDirectory
    _claim_chunk: int

    if TYPE_CHECKING:  # RunLifecycleCalls's, its sibling in PaymentRunActivities
        async def _tell_notice(self, notice: LifecycleNotice, progress: Progress) -> NoticeResult: ...
        async def _tell_released(self, run_key: str, states: tuple[str, ...], progress: Progress) -> NoticeResult: ...

    async def _run_erp(self, run_key: str) -> ErpPort:
        """The ERP of the company code the run's paying account pays for."""
        header = await asyncio.to_thread(self._runs.header, run_key)
        if header is None:
            raise business_error("UnknownPaymentRun", f"no payment run {run_key} in the treasury store")
        try:
            return self._erps.for_paying_account(header.paying_account_id)
        except ErpBusinessError as e:
            raise business_error("ErpClaimFailed", e.message) from e

    async def _claim_all(self, claims: ErpClaims, progress: Progress) -> ErpClaimResult:
        erp = await self._run_erp(claims.run_key)
        before = await asyncio.to_thread(self._runs.counts, claims.run_key)
        result = ErpClaimResult(resumed_from=before[CLAIMED] + before[FILED], refused=before[ERP_REFUSED])
        while chunk := await asyncio.to_thread(self._runs.items, claims.run_key, (RESERVED,), self._claim_chunk):
            try:
                outcome = await erp.claim_for_payment_run(
                    [erp_document(i, erp.name) for i in chunk], claims.payment_run_id, claims.run_date,
                    alive=lambda: progress({"claimed": result.claimed + result.resumed_from}))
            except (ErpTransientError, ErpOutcomeUnknown) as e:  # claiming again with the same run is harmless
                raise _erp_unavailable(e) from e
            except ErpBusinessError as e:  # SAP refused to read: no chunk would fare better
                raise business_error("ErpClaimFailed", f"the ERP refused the payment-run claim: {e.message}") from e
            answers = {i.invoice_key: outcome[_document(i)] for i in chunk}
            claimed = [key for key, why in answers.items() if why is None]
            refused = {key: why for key, why in answers.items() if why}
            await asyncio.to_thread(self._runs.move, claims.run_key, claimed, (RESERVED,), CLAIMED)
            await asyncio.to_thread(self._runs.move, claims.run_key, list(refused), (RESERVED,), ERP_REFUSED, None,
                                    refused)
            result.claimed, result.refused = result.claimed + len(claimed), result.refused + len(refused)
            progress({"claimed": result.claimed + result.resumed_from, "refused": result.refused})
        result.claimed += result.resumed_from
        result.refused_sample = await asyncio.to_thread(self._runs.reasons, claims.run_key, (ERP_REFUSED,), SAMPLE)
        return result

    async def give_back_unsent(self, request: UnsentRelease, progress: Progress) -> UnsentReleaseResult:
        run_key, why = request.run_key, f"{request.reason} (by {request.requested_by})"
        header = await asyncio.to_thread(self._runs.header, run_key)
        if header is None:
            raise business_error("UnknownPaymentRun", f"no payment run {run_key} in the treasury store")
        result = UnsentReleaseResult()
        for file in await asyncio.to_thread(self._runs.files, run_key):
            state = file.state
            if state == BUILT:
                state = await asyncio.to_thread(self._runs.set_file_state, file.message_id, (BUILT,), WITHDRAWN, why)
            members = await asyncio.to_thread(self._runs.items, run_key, (FILED,), file.payments, file.message_id)
            keys = [i.invoice_key for i in members]
            if state == WITHDRAWN:
                await asyncio.to_thread(self._runs.move, run_key, keys, (FILED,), DROPPED,
                                        f"{file.message_id} withdrawn unsent: {why}")
            elif state == SUBMITTING:
                for key in keys:
                    result.refused[key] = (f"{file.message_id} may have reached the bank (its submission started, "
                                           "outcome unknown): the bank's own answer decides; resend the same file "
                                           "or ask the bank")
            else:  # the bank's answer is known: tell it, as the run would have
                told = await self._tell_notice(LifecycleNotice(
                    run_key=run_key, kind="included" if state == SENT else "rejected", message_id=file.message_id,
                    reason_code=(file.reason or "FF01")[:4]), progress)
                result.told_sent += told.told if state == SENT else 0
        await asyncio.to_thread(self._runs.move_all, run_key, (RESERVED, CLAIMED), DROPPED, why)
        result.claims_released = await self._release_claims(run_key, header.payment_run_id, progress)
        result.freed = (await self._tell_released(run_key, (DROPPED, ERP_REFUSED), progress)).told
        # Not reserved as far as the store knows; told anyway in case a reservation was in flight.
        await self._tell_released(run_key, (SELECTED,), progress)
        note = (f"{why}: {result.freed} freed, {len(result.refused)} kept (may be at the bank), "
                f"{result.told_sent} told sent")
        await asyncio.to_thread(self._runs.record_recovery, run_key, request.requested_by, note)
        return result

    async def _release_claims(self, run_key: str, payment_run_id: str, progress: Progress) -> int:
        """This run's ERP claims off every invoice it gives back, so the next run can claim them."""
        erp = await self._run_erp(run_key)
        released, last = 0, None
        while chunk := await asyncio.to_thread(self._runs.items, run_key, (DROPPED, ERP_REFUSED), self._claim_chunk,
                                               None, last):
            last = chunk[-1].invoice_key
            docs = [erp_document(i, erp.name) for i in chunk if i.invoice_document]
            try:
                released += await erp.release_from_payment_run(docs, payment_run_id) if docs else 0
            except (ErpTransientError, ErpOutcomeUnknown) as e:
                raise _erp_unavailable(e) from e
            progress({"claims_released": released})
        return released

