"""Test helpers in the sdk-python style: a worker on a uuid task queue, eventual assertions
instead of sleeps, and invoices with unique references dated by the clock profile."""

import asyncio
import functools
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from temporalio.client import Client, WorkflowHandle

from adapters.bank import BankClient
from adapters.einvoice import EInvoiceClient
from adapters.erp_directory import ErpDirectory
from adapters.erp_port import ErpPort
from adapters.sap import SapClient
from adapters.sap_erp import SapErp
from adapters.treasury_store import TreasuryStore
from canonical.bank import PayingAccount
from canonical.controls import ControlPolicy
from canonical.duplicates import DuplicateRules
from canonical.entities import SAMPLE_LEGAL_ENTITIES, SAMPLE_PAYING_ACCOUNTS
from canonical.invoice import Invoice
from canonical.payment_run import PaymentRunRequest
from canonical.status import InvoiceLifecycleStatus
from cli.processes import MOCK_BANK_DOWNLOAD_PATH, MOCK_BANK_REPORT_REQUEST_PATH
from identity.ap_platform import PlatformSigner, ephemeral_platform
from identity.dev_issuer import DevIssuer, ephemeral_dev_issuer
from settings import DEVELOPMENT_FINGERPRINT_KEY, Settings
from tests.clock import business_today
from worker import WORKFLOWS, activities_for, build_worker

T = TypeVar("T")

# The suite's invoices are one supplier's, for one amount, dated today (invoice_json): under the
# production default ("reference-or-date") every one after the first would be held as a possible
# duplicate of the others in the session's ERP. The reference rule still applies to all of them;
# tests/test_near_duplicates.py runs both rules. conftest.py sets it for worker subprocesses too.
SUITE_DUPLICATE_RULES: DuplicateRules = "reference"
# A fixed test key, so recorded histories under tests/histories replay. Never used outside tests.
TEST_CODEC_KEY = "ZmluLXN5bmMtdGVzdC1rZXktMzItYnl0ZXMtbG9uZyE="
REPO = Path(__file__).resolve().parent.parent
# The AP platform of the test run: in-process workers trust it (conftest.py); invoice_json signs
# its approvals with it, as the real platform signs `approved_by` (architecture invariant 8).
AP_PLATFORM: PlatformSigner = ephemeral_platform()
SAP_ENTITIES = {code: e for code, e in SAMPLE_LEGAL_ENTITIES.items() if e.erp == "sap"}


@asynccontextmanager
async def new_worker(client: Client, sap_url: str, store: TreasuryStore, *, sap_timeout: float = 10.0,
                     bank_url: str = "http://127.0.0.1:9", einvoice_url: str = "http://127.0.0.1:9",
                     task_queue: str | None = None, replace: list | None = None,
                     extra_workflows: list | None = None, extra_activities: list | None = None,
                     not_booked_margin_days: int = 4, controls: ControlPolicy | None = None,
                     report_dir: Path | None = None, near_duplicate_check: DuplicateRules = SUITE_DUPLICATE_RULES,
                     paying_accounts: dict[str, PayingAccount] | None = None,
                     settings_fields: dict[str, Any] | None = None, erps: dict[str, ErpPort] | None = None):
    """A worker on its own task queue. Tests without a bank get an address nothing listens on.
    `replace`: activities that stand in for the real ones of the same name (fault injection).
    `controls`: the finance team's controls this worker is configured with (default: settings').
    `report_dir`: where a Reconciliation writes its report (the settings' default otherwise).
    `near_duplicate_check`: the reference rule only, unless a test asks for more (below).
    `paying_accounts`: our accounts at the bank (default: settings', mock-bank's ACME over HTTP).
    `settings_fields`: any other settings (e.g. company codes).
    `erps`: ERP instances beside mock-sap ("sap"), by name (e.g. "tryton": a TrytonErp), routed
    to by the legal entities; the caller opens and closes them."""
    # mock-bank's download and report request, also where no conftest set them (python -m tests.record_histories)
    settings = Settings(sap_url=sap_url, sap_timeout_seconds=sap_timeout, bank_url=bank_url, einvoice_url=einvoice_url,
                        bank_download_path=MOCK_BANK_DOWNLOAD_PATH,
                        bank_report_request_path=MOCK_BANK_REPORT_REQUEST_PATH,
                        task_queue=task_queue or f"tq-{uuid.uuid4()}",
                        bank_not_booked_margin_days=not_booked_margin_days, near_duplicate_check=near_duplicate_check,
                        **({"controls": controls} if controls is not None else {}),
                        **({"report_dir": report_dir} if report_dir is not None else {}),
                        **({"paying_accounts": paying_accounts} if paying_accounts is not None else {}),
                        **(settings_fields or {}))
    async with SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank, \
            EInvoiceClient(settings.einvoice_url) as einvoice:
        # Stand-ins and extras win over the worker's own activities of the same name.
        chosen = list(replace or []) + list(extra_activities or [])
        names = {activity_name(a) for a in chosen}
        erp: ErpDirectory | SapClient = ErpDirectory({"sap": SapErp(sap), **erps}, settings.legal_entities,
                                                     settings.paying_accounts) if erps else sap
        activities = [a for a in activities_for(client, settings, erp, store, bank, einvoice)
                      if activity_name(a) not in names] + chosen
        workflows = WORKFLOWS + [w for w in (extra_workflows or []) if w not in WORKFLOWS]
        worker = build_worker(client, settings, erp, store, bank, einvoice, activities=activities, workflows=workflows)
        async with worker:
            yield worker


async def assert_eventually(check: Callable[[], Awaitable[T]], timeout: float = 15.0, interval: float = 0.1) -> T:
    """Retry `check` until it stops raising AssertionError."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(interval)


async def wait_for_status(handle: WorkflowHandle, status: str, timeout: float = 20.0) -> Any:
    """Until the lifecycle *is* in `status`: for states it rests in until someone or something
    (a person, a payment run, the bank's next day) moves it on, e.g. SCHEDULED, ON_HOLD,
    AWAITING_REMEDIATION, COMPLETED. For states it may pass straight through, wait_for_history."""
    async def check():
        view = await handle.query("status", result_type=InvoiceLifecycleStatus)
        assert view.status == status, f"status {view.status}, history {[h.note for h in view.history]}"
        return view

    return await assert_eventually(check, timeout)


def path(view: InvoiceLifecycleStatus) -> list[str]:
    """The states the lifecycle went through, in order, each once per stay (notes recorded in
    the same state do not repeat it)."""
    states: list[str] = []
    for change in view.history:
        if not states or states[-1] != change.status.value:
            states.append(change.status.value)
    return states


async def wait_for_history(handle: WorkflowHandle, status: str, timeout: float = 20.0) -> Any:
    """Until the lifecycle has *reached* `status`: it is in the recorded history, wherever the
    lifecycle has moved on to since. For transient states such as SENT_TO_BANK, ACCEPTED or
    SETTLED, which the bank's calendar may take it straight through (booked on receipt,
    tests/clock.py). States recur with a second payment attempt: check path(view) for which."""
    async def check():
        view = await handle.query("status", result_type=InvoiceLifecycleStatus)
        assert status in path(view), f"{status} not reached: {path(view)}"
        return view

    return await assert_eventually(check, timeout)


def run_module(module: str, *args: str, address: str, cwd: Path = REPO, env: dict[str, str | None] | None = None
               ) -> subprocess.CompletedProcess:
    """`python -m <module> <args>` as a person runs it against the test dev server: none of this
    shell's TEMPORAL_/FINSYNC_ settings, the test codec key, plus `env` (None unsets). Blocking:
    call it in a thread when a worker in this process must keep answering."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FINSYNC_"))}
    clean.update({"TEMPORAL_ADDRESS": address, "FINSYNC_CODEC_KEY": TEST_CODEC_KEY, **(env or {})})
    clean = {k: v for k, v in clean.items() if v is not None}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=clean, text=True, capture_output=True,
                          timeout=60)


LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the SDK core's marker for a local activity's result


async def activity_types_scheduled(handle: WorkflowHandle) -> list[str]:
    """The activity types the workflow run scheduled, in order (retries are not new schedules)."""
    return activity_types_of((await handle.fetch_history()).events)


def activity_types_of(events) -> list[str]:
    """The activity types in these history events, in order, local activities included: each is a
    marker with its type in the marker's data (a local attempt retried on a timer is one more)."""
    types = []
    for e in events:
        if e.HasField("activity_task_scheduled_event_attributes"):
            types.append(e.activity_task_scheduled_event_attributes.activity_type.name)
        elif e.HasField("marker_recorded_event_attributes") and \
                e.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER:
            data = e.marker_recorded_event_attributes.details["data"].payloads[0].data
            types.append(json.loads(data)["activity_type"])
    return types


async def activities_scheduled(handle: WorkflowHandle, name: str) -> int:
    """How many times the workflow run scheduled activity `name`."""
    return (await activity_types_scheduled(handle)).count(name)


def activity_name(fn) -> str:
    return fn.__temporal_activity_definition.name


def unique_ref(prefix: str = "T") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10].upper()}"  # ≤ 16 chars: the ERP's limit


def invoice_json(supplier_id: str = "1000013", ref: str | None = None, *, signed: bool = True,
                 **overrides: Any) -> dict:
    """Canonical invoice as a CLI user writes it: every amount a string. Approved in the AP
    platform unless `approved_by=None` is passed (then it waits for `approve`): the approval is
    signed by the test AP platform for these figures, unless `signed=False` (a typed name only)."""
    body = {
        "company_code": "1710",
        "supplier_id": supplier_id,
        "supplier_invoice_ref": ref or unique_ref(),
        "invoice_date": business_today().isoformat(),
        "currency": "EUR",
        "net_amount": "1000.00",
        "tax_amount": "190.00",
        "gross_amount": "1190.00",
        "payment_terms": {"code": "NT30", "net_days": 30},
        "lines": [
            {"line_no": 1, "description": "Consulting October", "net_amount": "600.00", "quantity": "6",
             "unit_price": "100.00"},
            {"line_no": 2, "description": "Travel", "net_amount": "400.00"},
        ],
        "approved_by": "ap.approver",
    }
    body.update(overrides)
    if body["approved_by"] is None:
        del body["approved_by"]
    elif signed and "ap_platform_approval" not in body:
        try:
            body["ap_platform_approval"] = platform_approval(body, body["approved_by"])
        except ValidationError:
            pass  # an invalid invoice (a test of bad input): nothing to sign
    return body


def platform_approval(body: dict, approver: str, *, now: datetime | None = None, submitter: str | None = None,
                      signer: PlatformSigner | None = None, **claims: Any) -> str:
    """The AP platform's signed approval of the invoice `body`'s figures (`claims` override them)."""
    invoice = Invoice.model_validate({k: v for k, v in body.items() if k != "ap_platform_approval"})
    figures = {"workflow_id": invoice.workflow_id, "gross_amount": invoice.gross_amount,
               "currency": invoice.currency, "bank_account_id": invoice.bank_account_id, **claims}
    return (signer or AP_PLATFORM).sign(approver=approver, now=now or datetime.now(UTC), submitter=submitter,
                                        **figures)


def trusted_keys_env(directory: Path, issuer: DevIssuer | None = None) -> dict[str, str]:
    """FINSYNC_* settings for a worker process of its own (worker.py) to trust the run's AP
    platform (invoice_json's signed approvals) and a decision issuer (`issuer`, else the run's,
    which signs `run_request` and `decision_input`: production refuses to start without one), as
    the in-process workers do; and the legal entities production needs."""
    issuer = issuer or session_issuer()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "decisions-jwks.json").write_text(json.dumps(issuer.jwks()))
    (directory / "ap-platform-jwks.json").write_text(json.dumps(AP_PLATFORM.jwks()))
    # production needs a fingerprint key: the one in-process workers use by default, so both agree
    return {"FINSYNC_FINGERPRINT_KEY": DEVELOPMENT_FINGERPRINT_KEY.decode(),
            # production names its legal entities: the embedded stack's sample, said out loud, of the
            # ERP these workers reach (mock-sap; production refuses an entity whose ERP is not configured)
            "FINSYNC_LEGAL_ENTITIES": json.dumps([e.model_dump(mode="json") for e in SAP_ENTITIES.values()]),
            "FINSYNC_PAYING_ACCOUNTS": json.dumps({a: SAMPLE_PAYING_ACCOUNTS[a].model_dump(mode="json")
                                                   for e in SAP_ENTITIES.values() for a in e.paying_account_ids}),
            "FINSYNC_IDENTITY_ISSUER": issuer.keyring().issuer,
            "FINSYNC_IDENTITY_JWKS_FILE": str(directory / "decisions-jwks.json"),
            "FINSYNC_AP_PLATFORM_ISSUER": AP_PLATFORM.issuer,
            "FINSYNC_AP_PLATFORM_JWKS_FILE": str(directory / "ap-platform-jwks.json")}


def make_invoice(**kwargs: Any) -> Invoice:
    return Invoice.model_validate(invoice_json(**kwargs))


def far_due_date() -> str:
    """A due date well past the test run, so the payment-run timer never fires in a test."""
    return (business_today() + timedelta(days=60)).isoformat()


def decision_input(issuer: DevIssuer, workflow_id: str, decision: str, person: str, *,
                   now: datetime | None = None, roles: tuple[str, ...] | None = None, **fields: Any) -> dict:
    """A decision update's input signed for `person` (architecture invariant 8): the JSON a person
    passes to `temporal workflow update execute`. `now`: the workflow's clock on the
    time-skipping server; `roles` overrides the directory's (e.g. a token without the role)."""
    token = issuer.issue(person, workflow_id=workflow_id, decision=decision, now=now or datetime.now(UTC),
                         roles=roles)
    return {**fields, "token": token}


async def decide(handle: WorkflowHandle, issuer: DevIssuer, decision: str, person: str, **fields: Any) -> Any:
    """`person`'s decision update on `handle`'s workflow (named as the update), signed for them."""
    return await handle.execute_update(decision, decision_input(issuer, handle.id, decision, person, **fields))

@functools.cache
def session_issuer() -> DevIssuer:
    """The test run's identity provider (the `issuer` fixture): helpers without fixtures sign with it."""
    return ephemeral_dev_issuer()


def run_request(workflow_id: str, *, person: str = "treasury.tom", now: datetime | None = None,
                issuer: DevIssuer | None = None, **fields: Any) -> PaymentRunRequest:
    """A payment run's input as a person starts it: with their signed `request_run` token for
    `workflow_id` (workflows/run_release.py)."""
    signed = decision_input(issuer or session_issuer(), workflow_id, "request_run", person, now=now)
    return PaymentRunRequest(**fields, token=signed["token"])
