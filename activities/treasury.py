"""Treasury activities: the expected outflow of each scheduled invoice."""

import asyncio

from temporalio import activity

from adapters.treasury_store import TreasuryStore
from canonical.treasury import ExpectedOutflow


class TreasuryActivities:
    def __init__(self, store: TreasuryStore) -> None:
        self._store = store

    @activity.defn
    async def register_expected_outflow(self, outflow: ExpectedOutflow) -> ExpectedOutflow:
        # Upsert keyed by the invoice key: a retry writes the same row again.
        return await asyncio.to_thread(self._store.upsert_expected_outflow, outflow)

    @activity.defn
    async def withdraw_expected_outflow(self, invoice_key: str) -> None:
        await asyncio.to_thread(self._store.withdraw_outflow, invoice_key)
