"""Send the signals queued in the treasury store's outbox to their lifecycles, a bounded number
at a time. Replaces signalling from workflow code, which is capped at 2,000 pending signals
per execution and writes every signal into the sender's history.

Resumable: each signal is marked in the store once it reached its lifecycle (flushed in
chunks and before every failure), so a retry after a crash sends only what is unmarked; a
signal sent just before a crash may be sent once more, which the lifecycle de-duplicates
(payment_leg.PaymentLeg.apply; a repeated statement_posted hint is one more look).
One lifecycle's signals go one after another, in the order queued, so "accepted" never
overtakes "settled" on the wire; different lifecycles are told concurrently. With
`bank_status_lists`, a lifecycle's consecutive bank_status signals of one call (a pain.002 and a
camt.054 read in one inbox batch) go as one `bank_statuses` signal carrying them in that order."""

import asyncio
from collections import Counter

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.errors import transient_error
from adapters.lifecycle_outbox import DELIVERED, ENDED, LifecycleOutbox, QueuedSignal
from canonical.inbox import DeliveryReport, DeliveryRequest

# Concurrent lifecycles: ~16 is what the payment run's reservations use; signals are lighter.
PARALLEL_LIFECYCLES = 32
_FLUSH_EVERY = 200
_MAX_IDS = 200
_MAX_PROBLEMS_PER_BATCH = 5
# Worth another attempt later: Temporal busy or unreachable, or the lifecycle's own limits.
_TRANSIENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED,
              RPCStatusCode.ABORTED, RPCStatusCode.INTERNAL, RPCStatusCode.UNKNOWN, RPCStatusCode.CANCELLED}


BANK_STATUS, BANK_STATUSES = "bank_status", "bank_statuses"


class LifecycleDeliveries:
    def __init__(self, client: Client, outbox: LifecycleOutbox, bank_status_lists: bool = False) -> None:
        self._client, self._outbox, self._bank_status_lists = client, outbox, bank_status_lists

    @activity.defn
    async def deliver_to_lifecycles(self, request: DeliveryRequest) -> DeliveryReport:
        queued = await asyncio.to_thread(self._outbox.unsent, request.batch_keys)
        by_lifecycle: dict[str, list[QueuedSignal]] = {}
        for item in queued:
            by_lifecycle.setdefault(item.workflow_id, []).append(item)
        progress, gate, held_back = _Progress(self._outbox), asyncio.Semaphore(PARALLEL_LIFECYCLES), []

        async def tell(items: list[QueuedSignal]) -> None:
            async with gate:
                for group in self._in_signals(items):
                    outcome = await self._send(_as_one(group))
                    if outcome is None:  # retried later; this lifecycle's next signals wait behind it
                        held_back.append(group[0].workflow_id)
                        return
                    for item in group:
                        await progress.done(item, outcome)

        try:
            await asyncio.gather(*(tell(items) for items in by_lifecycle.values()))
        finally:
            await progress.flush()
        if held_back:
            raise transient_error(f"Temporal did not take the signals for {len(held_back)} lifecycles "
                                  f"(e.g. {held_back[0]}); {progress.count} sent, the rest on the next attempt")
        return await asyncio.to_thread(_report, self._outbox, request.batch_keys)

    def _in_signals(self, items: list[QueuedSignal]) -> list[list[QueuedSignal]]:
        """One lifecycle's queued signals, grouped into what is sent as one signal."""
        groups: list[list[QueuedSignal]] = []
        for item in items:
            if self._bank_status_lists and groups and _is_answer(item) and _is_answer(groups[-1][-1]):
                groups[-1].append(item)
            else:
                groups.append([item])
        return groups

    async def _send(self, item: QueuedSignal) -> str | None:
        """DELIVERED, ENDED, a permanent failure in words, or None to try again later."""
        handle = self._client.get_workflow_handle(item.workflow_id)
        try:
            if item.argument is None:
                await handle.signal(item.signal)
            else:
                await handle.signal(item.signal, item.argument)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:  # the lifecycle ended, or never existed
                return ENDED if item.hint else f"{item.signal} to {item.workflow_id} failed: {err.message}"
            if err.status in _TRANSIENT:
                return None
            return f"{item.signal} to {item.workflow_id} failed: {err.message}"
        return DELIVERED


def _is_answer(item: QueuedSignal) -> bool:
    return item.signal == BANK_STATUS and item.argument is not None


def _as_one(group: list[QueuedSignal]) -> QueuedSignal:
    """The signal that carries the group: itself when alone; the outbox still marks each queued one."""
    if len(group) == 1:
        return group[0]
    return group[0].model_copy(update={"signal": BANK_STATUSES,
                                       "argument": {"reports": [item.argument for item in group]}})


class _Progress:
    """Marks in the store in chunks (one commit per signal would cost more than the signal)
    and heartbeats with the count, so a stalled delivery is seen within the heartbeat timeout."""

    def __init__(self, outbox: LifecycleOutbox) -> None:
        self._outbox, self.count = outbox, 0
        self._pending: list[tuple[str, int, str]] = []
        self._lock = asyncio.Lock()

    async def done(self, item: QueuedSignal, outcome: str) -> None:
        self._pending.append((item.batch_key, item.seq, outcome))
        self.count += 1
        activity.heartbeat(self.count)
        if len(self._pending) >= _FLUSH_EVERY:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            chunk, self._pending = self._pending, []
            await asyncio.to_thread(self._outbox.mark_sent, chunk)
        activity.heartbeat(self.count)


def _report(outbox: LifecycleOutbox, batch_keys: list[str]) -> DeliveryReport:
    """From the store, so a report after a retry covers the signals earlier attempts sent too."""
    rows = outbox.batches(batch_keys)
    outcomes = Counter(r.outcome if r.outcome in (DELIVERED, ENDED, None) else "failed" for r in rows)
    problems: dict[str, list[str]] = {}
    for row in rows:
        if row.outcome not in (DELIVERED, ENDED, None):
            problems.setdefault(row.batch_key, []).append(row.outcome)
    told = sorted({r.workflow_id for r in rows if r.outcome == DELIVERED})
    return DeliveryReport(
        queued=len(rows), delivered=outcomes[DELIVERED], ended=outcomes[ENDED], failed=outcomes["failed"],
        lifecycles=told[:_MAX_IDS],
        problems={key: "; ".join(found[:_MAX_PROBLEMS_PER_BATCH] + (
            [f"and {len(found) - _MAX_PROBLEMS_PER_BATCH} more"] if len(found) > _MAX_PROBLEMS_PER_BATCH else []))
            for key, found in problems.items()})
