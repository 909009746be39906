"""A payment run's calls to its lifecycles: the `reserve_for_payment_run` update, and the
`included_in_payment_run` / `bank_status` / `released_from_payment_run` signals. From an
activity, never from workflow code (where thousands of pending signals would fail the run's
workflow task), with bounded concurrency. Progress is in the treasury store (an invoice moves
state once its call was answered, recorded 250 at a time), so a retry resumes with the
invoices not yet answered; the heartbeat shows how far it got."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.converter import PayloadCodec
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import transient_error
from activities.sealed import seal
from adapters.payment_run_store import (
    DROPPED,
    ERP_REFUSED,
    FILED,
    REFUSED,
    REJECTED,
    RELEASED,
    RESERVED,
    SELECTED,
    SENT,
    ItemRef,
    PaymentRunStore,
)
from canonical.commands import PaymentRunInclusion, PaymentSent
from canonical.payment import BankStatus, BankStatusReport
from canonical.payment_run import LifecycleNotice, NoticeResult, ReservationRequest, ReservedPayment

CHUNK = 250  # answers per store write (and heartbeat)
PARALLEL = 64  # calls in flight to the Temporal frontend (≤500 advised, guides/temporal.md §3.4)
# Ended or unknown lifecycles: nothing to reserve or tell. Anything else is retried.
_GONE = (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION)

Progress = Callable[[object], None]
T = TypeVar("T")


def lifecycle_id(item: ItemRef) -> str:
    return item.workflow_id or f"invoice-{item.invoice_key}"


async def pooled(items: list[T], call: Callable[[T], Awaitable], record: Callable[[list], Awaitable],
                 progress: Progress, parallel: int = PARALLEL, batch: int = CHUNK) -> None:
    """`call` on every item, `parallel` at a time and never waiting for the slowest of a
    chunk; `record` gets (item, answer) pairs `batch` at a time: what is recorded, a retry
    skips. The first failure stops the rest; what was answered until then is recorded."""
    pending, done = iter(items), 0
    answered: list[tuple[T, Any]] = []

    async def flush() -> None:
        nonlocal answered, done
        out, answered = answered, []
        if out:
            await record(out)
            done += len(out)
            progress({"answered": done})

    async def worker() -> None:
        for item in pending:  # shared: each item is taken by one worker
            answer = await call(item)  # before touching `answered`: a flush may swap it meanwhile
            answered.append((item, answer))
            if len(answered) >= batch:
                await flush()

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(parallel, len(items))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    finally:
        await flush()


class RunLifecycleCalls:
    _client: Client
    _runs: PaymentRunStore
    _codec: PayloadCodec | None

    async def _reserve_all(self, request: ReservationRequest, progress: Progress) -> None:
        inclusion = PaymentRunInclusion(payment_run_id=request.payment_run_id, run_key=request.run_key,
                                        execution_date=request.execution_date)
        pending = await asyncio.to_thread(self._runs.refs, request.run_key, (SELECTED,))

        async def record(answers: list) -> None:
            await asyncio.to_thread(self._runs.record_reservations, request.run_key, [a for _, a in answers])

        await pooled(pending, lambda item: self._reserve(item, inclusion, request.released_by), record, progress)

    async def _reserve(self, item: ItemRef, inclusion: PaymentRunInclusion, released_by: str | None) -> dict:
        """The lifecycle's answer is the truth, not the store's row: a held, cancelled or
        already reserved invoice refuses. Its update is idempotent per run key."""
        handle = self._client.get_workflow_handle(lifecycle_id(item))
        try:
            reserved = await handle.execute_update("reserve_for_payment_run", inclusion, result_type=ReservedPayment)
        except WorkflowUpdateFailedError as e:
            cause = e.cause
            return {"invoice_key": item.invoice_key, "state": REFUSED,
                    "reason": str(cause.message if hasattr(cause, "message") else cause)}
        except RPCError as e:
            if e.status not in _GONE:
                raise transient_error(
                    f"Temporal did not take the reservation of {item.invoice_key}: {e.message}") from e
            return {"invoice_key": item.invoice_key, "state": REFUSED,
                    "reason": f"lifecycle not reachable: {e.message}"}
        doc, instruction = reserved.erp_document, reserved.instruction
        answer = {
            "invoice_key": item.invoice_key, "state": RESERVED, "workflow_id": reserved.workflow_id,
            "end_to_end_id": instruction.end_to_end_id, "amount": str(instruction.amount),
            "invoice_document": doc.invoice_document, "fiscal_year": doc.fiscal_year,
            "accounting_document": doc.accounting_document,
            "reservation": await seal(self._codec, reserved.model_dump_json().encode()),
        }
        who = (released_by or "").strip().casefold()
        if who and who in {a.strip().casefold() for a in reserved.approvers}:
            # The store named other approvers at selection; the lifecycle's word wins.
            answer.update(state=DROPPED,
                          reason=f"approved by {released_by}, who released this run (segregation of duties)")
        return answer

    # -- signals ----------------------------------------------------------------------------
    async def _tell_notice(self, notice: LifecycleNotice, progress: Progress) -> NoticeResult:
        run_key, message_id = notice.run_key, notice.message_id
        if notice.kind == "included":
            return await self._tell(run_key, (FILED,), SENT, "included_in_payment_run", lambda item: PaymentSent(
                run_key=run_key, message_id=message_id, end_to_end_id=item.end_to_end_id), progress, message_id)
        if notice.kind == "rejected":
            # The whole file was refused: each payment is rejected with the file's reason.
            return await self._tell(run_key, (FILED,), REJECTED, "bank_status", lambda item: BankStatusReport(
                message_id=f"refused:{message_id}", original_message_id=message_id, end_to_end_id=item.end_to_end_id,
                status=BankStatus.REJECTED, reason_code=notice.reason_code or "FF01"), progress, message_id)
        return await self._tell_released(run_key, (DROPPED, ERP_REFUSED), progress)

    async def _tell_released(self, run_key: str, states: tuple[str, ...], progress: Progress) -> NoticeResult:
        """`released_from_payment_run`: a lifecycle acts on it only while this run's
        reservation is its current, unsent attempt; told to anyone else, it changes nothing."""
        return await self._tell(run_key, states, RELEASED, "released_from_payment_run", lambda item: PaymentSent(
            run_key=run_key, message_id="", end_to_end_id=item.end_to_end_id or ""), progress)

    async def _tell(self, run_key: str, states: tuple[str, ...], to_state: str, signal: str,
                    argument: Callable[[ItemRef], object], progress: Progress, message_id: str | None = None
                    ) -> NoticeResult:
        result = NoticeResult()
        pending = await asyncio.to_thread(self._runs.refs, run_key, states, message_id)

        async def record(answers: list) -> None:
            await asyncio.to_thread(self._runs.move, run_key, [item.invoice_key for item, _ in answers], states,
                                    to_state)
            gone = sum(1 for _, ended in answers if ended)
            result.told, result.unreachable = result.told + len(answers) - gone, result.unreachable + gone

        await pooled(pending, lambda item: self._signal(item, signal, argument(item)), record, progress)
        return result

    async def _signal(self, item: ItemRef, signal: str, argument: object) -> bool:
        """True when the lifecycle has ended (nothing to tell); raises to retry otherwise."""
        try:
            await self._client.get_workflow_handle(lifecycle_id(item)).signal(signal, argument)
        except RPCError as e:
            if e.status not in _GONE:
                raise transient_error(f"Temporal did not take {signal} for {item.invoice_key}: {e.message}") from e
            return True
        return False
