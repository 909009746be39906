"""Identical reads asked at the same time, served by one call whose answer is as fresh as each
caller's own would have been.

A burst of one supplier's invoices makes every lifecycle ask the same question before it
posts (its unposted siblings in visibility, its posted invoices of that amount in the ERP).
One call per asker sends the same request hundreds of times, and each answer grows with the
burst. Here, per key at most one read is in flight, and a caller always gets the answer of
a read that *started after it asked*, shared with everyone who asked meanwhile: a burst of
N askers costs a handful of reads, and nobody gets an answer older than their question.
A failed read fails every caller of that round alone; the next round reads again."""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from contextlib import nullcontext
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedReads(Generic[K, V]):
    def __init__(self, read: Callable[[K], Awaitable[V]], parallel: int | None = None) -> None:
        """`parallel`: reads of different keys in flight at once (None: no bound)."""
        self._read = read
        self._asked: dict[K, asyncio.Future[V]] = {}  # the next round's answer, per key
        self._reading: set[K] = set()
        self._gate = asyncio.Semaphore(parallel) if parallel else None

    async def get(self, key: K) -> V:
        answer = self._asked.get(key)
        if answer is None:
            answer = self._asked[key] = asyncio.get_running_loop().create_future()
            if key not in self._reading:
                self._reading.add(key)
                asyncio.get_running_loop().create_task(self._serve(key))
        return await asyncio.shield(answer)  # a cancelled caller leaves the answer to the others

    async def _serve(self, key: K) -> None:
        """Reads until nobody waits: each round answers those who asked before it started."""
        try:
            while key in self._asked:
                async with self._gate or nullcontext():
                    answer = self._asked.pop(key)  # whoever asked while this round waited for the gate
                    try:
                        answer.set_result(await self._read(key))
                    except Exception as err:  # noqa: BLE001 - every waiter of this round gets the failure
                        answer.set_exception(err)
                        answer.exception()  # retrieved: waiters re-raise it; none left is no "never retrieved" log
        finally:
            self._reading.discard(key)
