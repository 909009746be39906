"""Record the histories the replay test keeps (tests/histories/<workflow id>.json).

    .venv/bin/python -m tests.record_histories
    .venv/bin/python -m tests.record_histories payment-run   # only the pinned PaymentRun's history

Re-record only on purpose: a committed history is a running workflow from the past, and the
point of the replay test is that today's code still replays it. Uses the fixed test codec key
and the tests' clock profile (tests/clock.py; FINSYNC_TEST_CLOCK, weekday-morning by default).
"""

import asyncio
import json
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from canonical.commands import CancelInvoice, LifecyclePolicy, PaymentRunInclusion, ResolveException
from canonical.invoice import Invoice
from cli.processes import BIN, mock_bank, mock_sap
from codec.bank_details import data_converter, load_codec
from settings import Settings
from adapters.treasury_store import TreasuryStore
from tests import sap_admin
from tests.clock import business_today, profile
from tests.helpers import TEST_CODEC_KEY, assert_eventually, invoice_json, new_worker, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.servers import running
from workflows.payment_run import payment_run_workflow_id
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import POLICY_MEMO, InvoiceToPayment

HISTORIES = Path(__file__).parent / "histories"


async def record(sap_url: str, env: WorkflowEnvironment, store: TreasuryStore) -> None:
    client = env.client
    async with new_worker(client, sap_url, store, sap_timeout=1.0) as worker:
        start = dict(task_queue=worker.task_queue)
        # 1. Held for a missing bank account, resolved with a correction, then in a payment run.
        held = Invoice.model_validate(invoice_json(ref="REPLAY-HOLD-1", bank_account_id="0009"))
        h1 = await client.start_workflow(InvoiceToPayment.run, held, id=held.workflow_id, **start)
        await wait_for_status(h1, "ON_HOLD")
        await h1.execute_update(InvoiceToPayment.resolve, ResolveException(
            resolved_by="md.anna", resolution="account 0001", corrected_invoice=held.model_copy(update={"bank_account_id": "0001"})))
        await wait_for_status(h1, "SCHEDULED")
        await h1.execute_update(InvoiceToPayment.reserve_for_payment_run, PaymentRunInclusion(
            payment_run_id="A11221", run_key="ACME-20261122-1", execution_date=business_today()))
        await wait_for_status(h1, "IN_PAYMENT_RUN")
        # 2. Posted, then cancelled: payment block in the ERP, outflow withdrawn, completed.
        cancelled = Invoice.model_validate(invoice_json(ref="REPLAY-CANCEL-1", supplier_id="1000014"))
        h2 = await client.start_workflow(InvoiceToPayment.run, cancelled, id=cancelled.workflow_id, **start)
        await wait_for_status(h2, "SCHEDULED")
        await h2.execute_update(InvoiceToPayment.cancel, CancelInvoice(requested_by="ap.clerk", reason="credit note"))
        await h2.result()
        # 3. A post with no answer (SAP slow), a wait, a lookup that finds it.
        await sap_admin.add_fault(sap_url, {"match": "A_SupplierInvoice$", "method": "POST", "scenario": "slow", "count": 1})
        slow = Invoice.model_validate(invoice_json(ref="REPLAY-SLOW-1", supplier_id="1000015"))
        h3 = await client.start_workflow(InvoiceToPayment.run, slow, id=slow.workflow_id,
                                         memo={POLICY_MEMO: LifecyclePolicy(erp_settle_seconds=5)}, **start)
        await wait_for_status(h3, "SCHEDULED", timeout=40)
        await sap_admin.clear_faults(sap_url)
        for handle in (h1, h2, h3):
            history = await handle.fetch_history()
            (HISTORIES / f"{handle.id}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
            print("recorded", handle.id, len(history.events), "events")


async def record_payment_cycle(sap_url: str, bank_url: str, env: WorkflowEnvironment, store: TreasuryStore) -> None:
    """4. A lifecycle paid, settled and cleared to COMPLETED, with its PaymentRun and BankInbox."""
    client = env.client
    async with new_worker(client, sap_url, store, bank_url=bank_url) as worker:
        paid = Invoice.model_validate(invoice_json(ref="REPLAY-PAID-1", supplier_id="1000016"))
        handle = await client.start_workflow(InvoiceToPayment.run, paid, id=paid.workflow_id, task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue) as inbox:
            await pay(client, worker.task_queue)
            await advance_until(handle, "COMPLETED", bank_url)
            inbox_history = await inbox.fetch_history()
        run_history = await client.get_workflow_handle(payment_run_workflow_id("ACME")).fetch_history()
        for name, history in ((handle.id, await handle.fetch_history()), ("payment-run-ACME", run_history),
                              ("bank-inbox", inbox_history)):
            (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
            print("recorded", name, len(history.events), "events")


async def record_bank_inbox(sap_url: str, bank_url: str, env: WorkflowEnvironment, store: TreasuryStore) -> None:
    """5. BankInbox (pinned; commands changed in v2) with the StatementPost child it hands a
    camt.053 to: a lifecycle paid, settled and cleared, its statement posted and hinted twice.
    The lifecycle's own history is not kept: REPLAY-PAID-1 covers that path."""
    from canonical.inbox import BankInboxConfig, StatementReport
    from tests import bank_admin
    from workflows.bank_inbox import BankInbox

    client = env.client
    await bank_admin.reset(bank_url)  # its clock back to today; the MsgIds of the run recorded before are free again
    async with new_worker(client, sap_url, store, bank_url=bank_url) as worker:
        paid = Invoice.model_validate(invoice_json(ref="REPLAY-INBOX-1", supplier_id="1000016"))
        handle = await client.start_workflow(InvoiceToPayment.run, paid, id=paid.workflow_id, task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        inbox = await client.start_workflow(BankInbox.run, BankInboxConfig(poll_seconds=0.5, statement_rehint_seconds=1),
                                            id="bank-inbox-replay", task_queue=worker.task_queue)
        await pay(client, worker.task_queue)
        await advance_until(handle, "COMPLETED", bank_url)
        posts = [w async for w in client.list_workflows("WorkflowType='StatementPost'")]
        post_histories = []
        for post in posts:
            report = await client.get_workflow_handle(post.id, result_type=StatementReport).result()
            if report.posted:  # the statement that cleared the invoice, not an empty day's
                post_histories.append(await client.get_workflow_handle(post.id).fetch_history())
        await inbox.terminate("recorded")
        for name, history in (("bank-inbox", await inbox.fetch_history()), ("statement-post", post_histories[-1])):
            (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
            print("recorded", name, len(history.events), "events")


async def record_continued_as_new(sap_url: str, settings: Settings, store: TreasuryStore) -> None:
    """6. Lifecycles that continued as new, on a dev server of their own that suggests it at 40
    events, flooded with statement_posted hints until they did: the first run of one SCHEDULED
    (the continue-as-new command; its snapshot holds the IBAN, encrypted), the last run of one
    held for a missing bank account (resumed in the hold, resolved, scheduled, reserved by a run)."""
    suggest = ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), data_converter=data_converter(load_codec(settings)),
        search_attributes=sa.ALL, dev_server_extra_args=suggest,
    ) as env:
        client = env.client
        async with new_worker(client, sap_url, store, sap_timeout=1.0) as worker:
            handles = []
            for ref, waits_in, overrides in (("REPLAY-CAN-1", "SCHEDULED", {}),
                                             ("REPLAY-CAN-2", "ON_HOLD", {"bank_account_id": "0009"})):
                invoice = Invoice.model_validate(invoice_json(ref=ref, **overrides))
                handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                     task_queue=worker.task_queue)
                await wait_for_status(handle, waits_in)

                async def continued(handle=handle):
                    for _ in range(5):
                        await handle.signal(InvoiceToPayment.statement_posted)
                    assert (await handle.describe()).run_id != handle.result_run_id

                await assert_eventually(continued, timeout=60)
                handles.append(handle)
            scheduled, resumed = handles
            await resumed.execute_update(InvoiceToPayment.resolve, ResolveException(
                resolved_by="md.anna", resolution="account 0001", bank_account_id="0001"))
            await wait_for_status(resumed, "SCHEDULED")
            await resumed.execute_update(InvoiceToPayment.reserve_for_payment_run, PaymentRunInclusion(
                payment_run_id="A11222", run_key="ACME-20261122-2", execution_date=business_today()))
            await wait_for_status(resumed, "IN_PAYMENT_RUN")
            first_run = client.get_workflow_handle(scheduled.id, run_id=scheduled.result_run_id)
            for handle in (first_run, resumed):  # no run id: the latest run
                history = await handle.fetch_history()
                text = json.dumps(json.loads(history.to_json()), indent=1) + "\n"
                (HISTORIES / f"{handle.id}.json").write_text(text)
                print("recorded", handle.id, len(history.events), "events")
            for handle in handles:
                await handle.terminate("recorded")


async def record_released_payment_run(sap_url: str, bank_url: str, env: WorkflowEnvironment, store: TreasuryStore) -> None:
    """5. A PaymentRun above its release limit: selected, released by a non-approver, then two
    invoices reserved, claimed and sent in two files (payment-run-ACME-released.json). Only
    the run's history is written: lifecycle histories are never re-recorded here."""
    from canonical.payment_run import PaymentRelease, PaymentRunRequest
    from workflows.payment_run import PaymentRun

    client = env.client
    async with new_worker(client, sap_url, store, bank_url=bank_url) as worker:
        lifecycles = []
        for supplier in ("1000013", "1000016"):
            invoice = Invoice.model_validate(invoice_json(supplier_id=supplier))
            lifecycles.append(await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                          task_queue=worker.task_queue))
        for handle in lifecycles:
            await wait_for_status(handle, "SCHEDULED")
        request = PaymentRunRequest(paying_account_id="ACME", run_date=business_today(), horizon_days=60, max_payments_per_file=1,
                                    requested_by="treasury.tom", release_above="1000.00")
        run = await client.start_workflow(PaymentRun.run, request, id=payment_run_workflow_id("ACME"), task_queue=worker.task_queue)
        while not (await run.query(PaymentRun.status))["stage"].startswith("awaiting release"):
            await asyncio.sleep(0.2)
        await run.execute_update(PaymentRun.release, PaymentRelease(released_by="treasury.tina"))
        await run.result()
        history = await run.fetch_history()
        (HISTORIES / "payment-run-ACME-released.json").write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
        print("recorded payment-run-ACME-released", len(history.events), "events")
        for handle in lifecycles:
            await handle.terminate("recorded")


async def payment_runs_only() -> None:
    """`python -m tests.record_histories payment-run`: the pinned PaymentRun's history alone,
    for a new deployment version of it (docs/architecture.md, "Upgrades")."""
    settings = Settings(codec_key=TEST_CODEC_KEY)
    moment = profile().clock_arg
    with tempfile.TemporaryDirectory() as tmp, \
            running(lambda port, log: mock_sap(port, clock=moment, log=log), Path(tmp) / "sap.log") as sap_url, \
            running(lambda port, log: mock_bank(port, clock=moment, log=log), Path(tmp) / "bank.log") as bank_url:
        async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
                                                         data_converter=data_converter(load_codec(settings)),
                                                         search_attributes=sa.ALL) as env:
            await record_released_payment_run(sap_url, bank_url, env, TreasuryStore(f"sqlite:///{tmp}/treasury4.db"))


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    settings = Settings(codec_key=TEST_CODEC_KEY)
    moment = profile().clock_arg
    print("clock profile", profile().describe())
    with tempfile.TemporaryDirectory() as tmp, \
            running(lambda port, log: mock_sap(port, clock=moment, log=log), Path(tmp) / "sap.log") as sap_url, \
            running(lambda port, log: mock_bank(port, clock=moment, log=log), Path(tmp) / "bank.log") as bank_url:
        async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
            data_converter=data_converter(load_codec(settings)),
            search_attributes=sa.ALL,
        ) as env:
            await record(sap_url, env, TreasuryStore(f"sqlite:///{tmp}/treasury.db"))
            await record_payment_cycle(sap_url, bank_url, env, TreasuryStore(f"sqlite:///{tmp}/treasury2.db"))
            await record_bank_inbox(sap_url, bank_url, env, TreasuryStore(f"sqlite:///{tmp}/treasury3.db"))
            await record_released_payment_run(sap_url, bank_url, env, TreasuryStore(f"sqlite:///{tmp}/treasury4.db"))
        await record_continued_as_new(sap_url, settings, TreasuryStore(f"sqlite:///{tmp}/treasury5.db"))


if __name__ == "__main__":
    import sys

    asyncio.run(payment_runs_only() if sys.argv[1:] == ["payment-run"] else main())
