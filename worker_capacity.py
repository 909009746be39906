"""The worker's capacity settings (FINSYNC_ prefix; settings.Settings inherits them): how many
workflows a worker keeps in memory and runs at once, and its cache of ERP master data."""

from pydantic import Field
from pydantic_settings import BaseSettings


class WorkerCapacity(BaseSettings):
    # Workflows kept in memory between their tasks (the SDK's default is 1,000). When more run at
    # once, each task of an evicted one replays its history in a new sandbox: at 2,000 lifecycles
    # started together the default made them superlinearly slow (tasks over 5 s). Sized for a
    # day of 5,000 invoices handed over at once to the two replicas of deploy/ (2,500 each, plus
    # runs, inbox, statement posts). ~270 KB each (bench/worker_memory.py): ~0.8 GB when full.
    max_cached_workflows: int = Field(default=3000, ge=0)
    # Workflow and activity tasks a worker runs at once. Workflow tasks are Python under one
    # lock: with the SDK's 100 slots, 500 invoices started together on 2 cores ran each task so
    # slowly that ~250-290 of them outlived their 10 s timeout and ran again (their local
    # activities too); 10 fixed that while tasks ran in the SDK's sandbox. Unsandboxed tasks are
    # cheaper, and 10 left the worker waiting on round trips: at n=1,000 (bench/README.md) 32
    # took 1,000 invoices to SCHEDULED in 82-92 s instead of 102-126 s, end to end 167-181 s
    # instead of 196-224 s, with 0-1 task of ~6,500 timing out. Tasks past these slots wait at the
    # server. Activities mostly wait on the ERP and the bank; the ERP serialises its writes.
    max_concurrent_workflow_tasks: int = Field(default=32, ge=2)
    max_concurrent_activities: int = Field(default=20, ge=1)
    # Supplier and company-code master data read by the validation (activities/supplier_master.py):
    # kept this many seconds at most (0: always read the ERP), at most this many entries.
    master_data_cache_seconds: float = Field(default=60.0, ge=0)
    master_data_cache_entries: int = Field(default=10_000, ge=0)
