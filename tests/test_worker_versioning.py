"""Worker Deployment Versioning on the real dev server: a versioned worker pins a payment run
to its build and lets a lifecycle move with the current build (docs/architecture.md,
"Upgrades"); an unversioned worker (the embedded stack, every other test) declares nothing."""

import uuid
from datetime import timedelta

import pytest
from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError

from adapters.bank import BankClient
from adapters.einvoice import EInvoiceClient
from adapters.sap import SapClient
from canonical.invoice import Invoice
from settings import Settings
from tests.helpers import assert_eventually, invoice_json, run_request, wait_for_status
from worker import build_worker, deployment_config
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun, payment_run_workflow_id


def test_half_a_version_is_refused():
    with pytest.raises(ValueError, match="both"):
        deployment_config(Settings(deployment_name="finsync"))
    assert deployment_config(Settings()) is None


async def test_runs_are_pinned_and_lifecycles_auto_upgrade(client, sap_server, store):
    name, build = f"finsync-{uuid.uuid4().hex[:6]}", "build-1"
    settings = Settings(sap_url=sap_server, deployment_name=name, build_id=build, task_queue=f"tq-{uuid.uuid4()}",
                        bank_url="http://127.0.0.1:9", einvoice_url="http://127.0.0.1:9")
    async with (SapClient.from_settings(settings) as sap, BankClient.from_settings(settings) as bank,
                EInvoiceClient(settings.einvoice_url) as einvoice,
                build_worker(client, settings, sap, store, bank, einvoice)):
        async def current():  # the version exists once the worker has polled with it
            try:
                await client.workflow_service.set_worker_deployment_current_version(
                    SetWorkerDeploymentCurrentVersionRequest(namespace=client.namespace, deployment_name=name,
                                                             build_id=build, identity="test"))
            except RPCError as err:
                raise AssertionError(err.message) from err

        await assert_eventually(current, timeout=30, interval=0.5)
        invoice = Invoice.model_validate(invoice_json())
        lifecycle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                task_queue=settings.task_queue)
        await wait_for_status(lifecycle, "SCHEDULED")
        run_id = payment_run_workflow_id("ACME") + f"-{uuid.uuid4().hex[:4]}"
        run = await client.start_workflow(PaymentRun.run,
                                          run_request(run_id, paying_account_id="ACME", horizon_days=0, run_number=9),
                                          id=run_id,
                                          task_queue=settings.task_queue, execution_timeout=timedelta(minutes=2))
        await run.result()  # nothing is due on that horizon: it ends at once
        behaviours = {h.id: await _behaviour(h) for h in (lifecycle, run)}
        await lifecycle.terminate("test done")
    assert behaviours == {lifecycle.id: VersioningBehavior.AUTO_UPGRADE, run.id: VersioningBehavior.PINNED}


async def _behaviour(handle) -> VersioningBehavior:
    async def known():
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
        assert info.behavior, info
        return VersioningBehavior(int(info.behavior))

    return await assert_eventually(known, timeout=20)
