"""A read-through cache of ERP master data (suppliers with their bank accounts, company codes),
one per worker process (worker.activities_for builds it once; no Temporal here).

Why: a lifecycle validates its invoice against the supplier's master data, so a day of a
thousand invoices from four suppliers read the same four suppliers a thousand times. Entries
live `ttl_seconds` at most, the cache holds `max_entries` at most (least recently used leave
first), and concurrent misses of one key share one read (a burst of lifecycles of one supplier
asks the ERP once). Only answers are kept: a read that fails is not, so the next caller asks
again. `invalidate` drops a supplier's entries at once (the vendor master sync saw it change).

What may be served from here is the caller's decision (activities/supplier_master.py): the bank
account finally paid is checked against the vendor store at reservation, never against this."""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

# (what, ERP instance, id): ("supplier", "sap", "1000001"), ("company", "tryton", "2710")
CacheKey = tuple[str, str, str]


class MasterDataCache:
    def __init__(self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds, self.max_entries, self._clock = ttl_seconds, max_entries, clock
        self._entries: OrderedDict[CacheKey, tuple[float, Any]] = OrderedDict()  # key -> (read at, value)
        self._loading: dict[CacheKey, asyncio.Future] = {}
        # Bumped by every invalidation: a read that was in flight across one is answered, not kept.
        self._generation = 0
        self.reads = self.hits = 0  # reads that went to the ERP, answers served from here

    @property
    def enabled(self) -> bool:
        return self.ttl_seconds > 0 and self.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def cached(self, key: CacheKey) -> tuple[bool, Any]:
        """(True, value) for a live entry (now the most recently used), else (False, None)."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        read_at, value = entry
        if self._clock() - read_at >= self.ttl_seconds:
            del self._entries[key]
            return False, None
        self._entries.move_to_end(key)
        return True, value

    async def get(self, key: CacheKey, read: Callable[[], Awaitable[Any]],
                  keep: Callable[[Any], Awaitable[bool]] | None = None) -> Any:
        """The cached answer for `key`, or `read()`'s (kept for the next caller). `keep`: whether
        a cached answer may still be served (False: read again and keep the new answer); an
        answer being read for another caller is served as it is."""
        if not self.enabled:
            self.reads += 1
            return await read()
        found, value = self.cached(key)
        if found and (keep is None or await keep(value)):
            self.hits += 1
            return value
        if not found and key in self._loading:  # someone is reading it already: wait for that answer
            self.hits += 1
            return await asyncio.shield(self._loading[key])
        return await self._read(key, read)

    async def _read(self, key: CacheKey, read: Callable[[], Awaitable[Any]]) -> Any:
        generation = self._generation
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        self.reads += 1
        try:
            value = await read()
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        else:
            future.set_result(value)
            if self._generation == generation:  # nothing was invalidated while it was read
                self._put(key, value)
            return value
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]

    def _put(self, key: CacheKey, value: Any) -> None:
        self._entries[key] = (self._clock(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def invalidate(self, ids: Iterable[str]) -> int:
        """Drops every entry of these ids (suppliers, in any ERP); returns how many it dropped."""
        wanted = set(ids)
        self._generation += 1
        gone = [key for key in self._entries if key[2] in wanted]
        for key in gone:
            del self._entries[key]
        return len(gone)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
