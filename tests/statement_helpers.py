"""A day's payments for the statement-post tests: many lifecycles paid in one run, settled by the
bank, and the day closed so its camt.053 goes to the ERP; a worker as its own process to kill;
and the ERP's own count of FINSTA posts (mock-sap's request log, test harness only)."""

import asyncio
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowHandle

from adapters.payment_registers import PENDING, PostedStatementRow
from adapters.treasury_store import TreasuryStore
from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from cli.processes import ManagedProcess
from tests import bank_admin
from tests.helpers import TEST_CODEC_KEY, assert_eventually, invoice_json, trusted_keys_env, wait_for_status
from workflows.invoice_lifecycle import InvoiceToPayment

REPO = Path(__file__).parent.parent
IDOC_PATH = "/sap/bc/idoc"


async def scheduled_lifecycles(client: Client, task_queue: str, count: int,
                               supplier: str = "1000016") -> list[WorkflowHandle]:
    """`count` approved invoices of one supplier, each its own lifecycle, all SCHEDULED."""
    gate = asyncio.Semaphore(16)

    async def one() -> WorkflowHandle:
        async with gate:
            invoice = Invoice.model_validate(invoice_json(supplier_id=supplier))
            handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                 task_queue=task_queue)
            await wait_for_status(handle, "SCHEDULED", timeout=120)
            return handle

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def statuses(handle: WorkflowHandle) -> list[str]:
    """The lifecycle's recorded history of states: what it went through, not where it is now."""
    view = await handle.query("status", result_type=InvoiceLifecycleStatus)
    return [h.status.value for h in view.history]


async def all_went_through(handles: list[WorkflowHandle], status: str, timeout: float = 30) -> None:
    async def check():
        missing = [h.id for h, seen in zip(handles, await asyncio.gather(*(statuses(h) for h in handles)), strict=True)
                   if status not in seen]
        assert not missing, f"{len(missing)} lifecycles never {status}, e.g. {missing[:3]}"

    await assert_eventually(check, timeout=timeout, interval=0.5)


async def settle_all(handles: list[WorkflowHandle], bank_url: str, max_days: int = 4) -> None:
    """Advance the bank a day at a time until every payment is booked (weekends roll over)."""
    for _ in range(max_days):
        try:
            return await all_went_through(handles, "SETTLED", timeout=8)
        except AssertionError:
            await bank_admin.advance(bank_url, 1)
    await all_went_through(handles, "SETTLED", timeout=20)


async def all_completed(handles: list[WorkflowHandle], timeout: float) -> list[InvoiceLifecycleStatus]:
    return list(await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)),
                                       timeout=timeout))


async def finsta_posts(sap_url: str) -> int:
    """FINSTA01 IDocs the ERP received (mock-sap's control endpoint: test harness only)."""
    async with httpx.AsyncClient(base_url=sap_url) as http:
        response = await http.get("/_mock/idocs", params={"mestyp": "FINSTA", "limit": 100000})
    response.raise_for_status()
    return len(response.json()["results"])


async def sap_fault(sap_url: str, rule: dict | None) -> None:
    """Add a /_mock/faults rule, or (None) clear them all."""
    async with httpx.AsyncClient(base_url=sap_url) as http:
        response = await (http.post("/_mock/faults", json=rule) if rule else http.delete("/_mock/faults"))
    response.raise_for_status()


def statement_entries(store: TreasuryStore) -> dict[str, str]:
    """The register of statements posted to the ERP: statement key -> ERP reference."""
    from sqlmodel import Session, select
    with Session(store.engine) as session:
        return {r.statement_key: r.erp_reference for r in session.exec(select(PostedStatementRow))}


async def wait_for_pending_post(store: TreasuryStore, timeout: float = 30) -> str:
    async def pending():
        keys = [k for k, ref in statement_entries(store).items() if ref == PENDING]
        assert keys, statement_entries(store)
        return keys[0]

    return await assert_eventually(pending, timeout=timeout, interval=0.05)


async def worker_ready(client: Client, task_queue: str, pid: int, timeout: float = 30) -> None:
    """That process, not an earlier one the server still remembers, polls the task queue
    (the SDK's default identity is `<pid>@<host>`)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    async def polling():
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
        assert any(p.identity.startswith(f"{pid}@") for p in response.pollers)

    await assert_eventually(polling, timeout=timeout, interval=0.2)


def one_queue(task_queue: str) -> dict[str, str]:
    """Every kind of work on the test's one queue (worker roles share a Worker on one queue)."""
    return {"FINSYNC_PAYMENTS_TASK_QUEUE": task_queue, "FINSYNC_BACK_OFFICE_TASK_QUEUE": task_queue}


@contextmanager
def worker_process(temporal_address: str, task_queue: str, sap_url: str, bank_url: str, store_url: str, log: Path):
    """`python worker.py` as production runs it, with FINSYNC_* / TEMPORAL_ADDRESS; killed by PID."""
    env = {"TEMPORAL_ADDRESS": temporal_address, "FINSYNC_TASK_QUEUE": task_queue, **one_queue(task_queue),
           "FINSYNC_SAP_URL": sap_url,
           "FINSYNC_BANK_URL": bank_url, "FINSYNC_EINVOICE_URL": "http://127.0.0.1:9",
           "FINSYNC_TREASURY_DB_URL": store_url, "FINSYNC_CODEC_KEY": TEST_CODEC_KEY, "PYTHONUNBUFFERED": "1",
           **trusted_keys_env(log.parent / "worker-keys")}
    proc = ManagedProcess(f"worker-{uuid.uuid4().hex[:4]}", [sys.executable, str(REPO / "worker.py")], log, env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
