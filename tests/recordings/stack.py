"""What each recording runs against: one Temporal dev server for the whole script, and per
recording its own mock-sap, mock-bank (and mock-einvoice when asked), treasury store and worker.
Fresh counterparts per recording keep the paths apart (a bank behaviour set on the paying
account, a fault armed on SAP, the reconciliation's view of the ERP and the bank touch only
their own recording) and let the invoices carry fixed references: the histories differ from one
generation to the next only where the code does."""

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle

from adapters.treasury_store import TreasuryStore
from canonical.commands import LifecyclePolicy
from canonical.invoice import Invoice
from cli.processes import BIN, ManagedProcess, mock_bank, mock_sap
from identity import ap_platform
from identity import keyring as decision_keys
from tests import bank_admin
from tests.clock import profile
from tests.helpers import (
    AP_PLATFORM,
    assert_eventually,
    decide,
    invoice_json,
    new_worker,
    platform_approval,
    session_issuer,
    wait_for_history,
)
from tests.intake_helpers import document
from tests.servers import running
from tests.test_supplier_answers import lifecycle_for
from tests.test_supplier_responses import supplier_side
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment
from workflows.lifecycle_start import start_options

# Who decides in the recordings: the worker trusts this issuer and the test AP platform.
ISSUER = session_issuer()  # the one `run_request` signs with too


@dataclass
class Session:
    client: Client
    task_queue: str
    sap_url: str
    bank_url: str
    einvoice_url: str
    store: TreasuryStore
    address: str  # the dev server's, for the `temporal` CLI

    async def start(self, ref: str, *, policy: LifecyclePolicy | None = None, start_signal: str | None = None,
                    start_signal_args: list | None = None, shown: bool = False, **invoice: Any) -> WorkflowHandle:
        """A lifecycle for invoice `ref` (≤ 16 characters), as the tests build one. `shown`: as
        finsync's starters start one, with its search attributes and facts (lifecycle_start.py)."""
        body = Invoice.model_validate(invoice_json(ref=ref, **invoice))
        more = {POLICY_MEMO: policy} if policy else {}
        extra: dict[str, Any] = start_options(body, **more) if shown else {"memo": more} if more else {}
        if start_signal:
            extra.update(start_signal=start_signal, start_signal_args=start_signal_args or [])
        return await self.client.start_workflow(InvoiceToPayment.run, body, id=body.workflow_id,
                                                task_queue=self.task_queue, **extra)

    async def decide(self, handle: WorkflowHandle, decision: str, person: str, **fields: Any) -> Any:
        """`person`'s decision update, signed by the recordings' issuer (architecture invariant 8)."""
        return await decide(handle, ISSUER, decision, person, **fields)

    async def cli(self, *args: str) -> subprocess.CompletedProcess:
        """The `temporal` CLI as a person runs it, in a thread: the worker shares this event loop."""
        return await asyncio.to_thread(subprocess.run, [str(BIN / "temporal"), *args, "--address", self.address],
                                       capture_output=True, text=True, timeout=60)


@asynccontextmanager
async def session(client: Client, tmp: Path, name: str, *, einvoice: bool = False, sap_timeout: float = 10.0,
                  not_booked_margin_days: int = 4,
                  settings_fields: dict[str, Any] | None = None) -> AsyncIterator[Session]:
    """Counterparts at the clock profile's moment (tests/clock.py), a store and a worker, all
    stopped (by PID) on the way out. `settings_fields`: the worker's settings that differ."""
    folder = tmp / name
    folder.mkdir()
    decision_keys.install(ISSUER.keyring())
    ap_platform.install(AP_PLATFORM.keyring())
    moment = profile().clock_arg
    with ExitStack() as servers:
        sap_url = servers.enter_context(running(lambda port, log: mock_sap(port, clock=moment, log=log),
                                                folder / "mock-sap.log"))
        bank_url = servers.enter_context(running(lambda port, log: mock_bank(port, clock=moment, log=log),
                                                 folder / "mock-bank.log"))
        einvoice_url = "http://127.0.0.1:9"  # nothing listens: answers to suppliers stay unsent
        if einvoice:
            einvoice_url = servers.enter_context(running(lambda port, log: ManagedProcess(
                "mock-einvoice", [str(BIN / "mock-einvoice"), "--port", str(port), "-q"], log),
                folder / "mock-einvoice.log"))
        store = TreasuryStore(f"sqlite:///{folder / 'treasury.db'}")
        task_queue = f"record-{name}-{uuid.uuid4().hex[:6]}"
        async with new_worker(client, sap_url, store, sap_timeout=sap_timeout, bank_url=bank_url,
                              einvoice_url=einvoice_url, task_queue=task_queue,
                              not_booked_margin_days=not_booked_margin_days, report_dir=folder / "reports",
                              settings_fields=settings_fields):
            yield Session(client, task_queue, sap_url, bank_url, einvoice_url, store,
                          client.service_client.config.target_host)


async def advance_until_all(handles: list[WorkflowHandle], status: str, bank_url: str, max_days: int = 6) -> None:
    """tests.payment_helpers.advance_until for several lifecycles: the bank moves a day at a
    time until every one has reached `status`."""
    for _ in range(max_days):
        try:
            for handle in handles:
                await wait_for_history(handle, status, timeout=6)
            return
        except AssertionError:
            await bank_admin.advance(bank_url, 1)
    for handle in handles:
        await wait_for_history(handle, status, timeout=10)


async def start_einvoice(s: Session, number: str, *, policy: LifecyclePolicy | None = None,
                         **invoice: Any) -> WorkflowHandle:
    """mock-einvoice's supplier side sent invoice `number` (as finsync's intake received it); its
    lifecycle starts with the receipt (the supplier hears AB), unapproved unless `approved_by` is
    given. `invoice`: fields that differ from the e-invoice (e.g. an account the ERP lacks)."""
    async with httpx.AsyncClient(base_url=s.einvoice_url, timeout=30) as mock:
        sent = await mock.post("/_mock/sent", content=document("valid.xml", number),
                               headers={"Content-Type": "application/xml"})
        sent.raise_for_status()
    body, receipt = lifecycle_for(number)
    body = body.model_copy(update=invoice)
    if body.approved_by:  # approved in the AP platform: signed by it for these figures
        body = body.model_copy(update={"ap_platform_approval": platform_approval(body.model_dump(mode="json"),
                                                                                 body.approved_by)})
    extra = start_options(body, **({POLICY_MEMO: policy} if policy else {}))  # as the intake starts one
    return await s.client.start_workflow(InvoiceToPayment.run, body, id=body.workflow_id, task_queue=s.task_queue,
                                         start_signal="einvoice_received", start_signal_args=[receipt], **extra)


async def answered(einvoice_url: str, number: str, codes: list[str]) -> None:
    """Until the supplier holds exactly these Invoice Responses, all heeded: the lifecycle sends
    them in the background, so its history is fetched only once they are out."""
    async def check():
        side = await supplier_side(einvoice_url, number)
        assert [(r["code"], r["ignored"]) for r in side["responses"]] == [(c, "") for c in codes], side["responses"]

    await assert_eventually(check, timeout=30)
