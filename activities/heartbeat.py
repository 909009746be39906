"""Heartbeats for an activity that waits on one long call (a statement post: minutes at SAP).
Without them a crashed worker's attempt is only retried at its start-to-close timeout; with a
heartbeat timeout it is retried within a minute, and its retry recovers from the ERP."""

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


async def heartbeating(work: Awaitable[T], every: float = 5.0) -> T:
    """Await `work`, heartbeating every `every` seconds meanwhile (the SDK throttles them)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        if not task.done():  # cancelled (heartbeat timeout, worker shutdown): stop the work too
            task.cancel()
