"""The finsync worker: wiring only. Connects to Temporal from the environment (the same
TEMPORAL_* variables as the CLI), injects adapters into activities, and shuts down gracefully
so in-flight activities finish on deploy."""

import argparse
import asyncio
import contextlib
import logging
import signal
from datetime import timedelta
from typing import Any

import pydantic
from temporalio.client import Client, TLSConfig
from temporalio.common import VersioningBehavior
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.worker import (
    Replayer,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkerDeploymentConfig,
    WorkerDeploymentVersion,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.bank_evidence import BankEvidenceActivities
from activities.bank_inbox import BankInboxActivities
from activities.controls import ControlActivities
from activities.decision_audit import DecisionAuditActivities
from activities.decision_checks import DecisionCheckActivities
from activities.decisions import StartVerification
from activities.duplicate_search import DuplicateSearch
from activities.erp import ErpActivities
from activities.lifecycle_delivery import LifecycleDeliveries
from activities.payment_run import PaymentRunActivities
from activities.reconciliation import ReconciliationActivities
from activities.start_checks import StartChecks
from activities.supplier_master import MasterDataReads
from activities.supplier_responses import SupplierResponseActivities
from activities.treasury import TreasuryActivities
from activities.vendor_sync import VendorSyncActivities
from adapters.audit_log import AuditLog
from adapters.bank import BankClient
from adapters.bank_file_drop import BankFileDrops
from adapters.einvoice import EInvoiceClient
from adapters.erp_connections import connected_erps, erp_configuration_problem, erp_directory, supplier_feed
from adapters.erp_directory import ErpDirectory
from adapters.lifecycle_outbox import LifecycleOutbox
from adapters.master_data_cache import MasterDataCache
from adapters.payment_registers import PaymentRegisters
from adapters.sap import SapClient
from adapters.treasury_store import TreasuryStore
from adapters.vendor_store import VendorStore
from codec.bank_details import data_converter, load_codec
from identity import ap_platform
from identity import keyring as decision_keys
from identity.configured import IdentityNotConfigured, decision_keyring
from settings import Settings, get_settings, settings_problem
from telemetry import health, log_masking, metrics, tracing
from workflows.bank_inbox import BankInbox
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.payment_run import PaymentRun
from workflows.reconciliation import Reconciliation
from workflows.statement_post import StatementPost
from workflows.vendor_master_sync import VendorMasterSync

# On SIGTERM running activities get this long to finish: a deployment's termination grace period
# must be longer (deploy/k8s/worker.yaml, deploy/compose.yaml; tests/test_deploy_files.py checks).
DRAIN_TIMEOUT = timedelta(seconds=30)
WORKFLOWS = [InvoiceToPayment, PaymentRun, BankInbox, StatementPost, Reconciliation, VendorMasterSync]
# No SDK sandbox at run time: it re-ran a workflow's module (and its class checks) for every new
# instance and handed every payload and activation through exec, ~30% of the worker's CPU.
# Determinism is checked on the source (tests/test_workflow_determinism.py) and by replaying every
# recorded path in the sandbox, which loads all of workflows/ inside it (README, "Worker capacity").
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def history_replayer(data_converter: DataConverter, sandboxed: bool = False) -> Replayer:
    """Replays histories as the worker runs them (its workflows, its runner), or in the SDK's
    sandbox, which refuses a clock read or I/O anywhere in workflows/ on the paths replayed."""
    runner = SandboxedWorkflowRunner() if sandboxed else WORKFLOW_RUNNER
    return Replayer(workflows=WORKFLOWS, workflow_runner=runner, data_converter=data_converter)


# Each role is one task queue (settings.queue_of). A workflow's activities run on its own queue;
# StatementPost is the inbox's child, so it inherits the payments queue; runs, the inbox and
# vendor sync reach lifecycles by update or signal, which need no queue.
ROLE_WORKFLOWS: dict[str, list] = {
    "lifecycles": [InvoiceToPayment],
    "payments": [PaymentRun, BankInbox, StatementPost],
    "back-office": [Reconciliation, VendorMasterSync],
}


def connect_options(settings: Settings) -> dict[str, Any]:
    """Client.connect's connection keywords from the TEMPORAL_* settings, built without
    connecting (tests/test_cloud_connection.py). mTLS: client certificate and key (Temporal Cloud
    or a cluster's own CA); an API key: TLS with the system's roots and the key as a bearer
    token; TEMPORAL_TLS=true: TLS alone. A private CA or server name adds to any of them."""
    cert, key = settings.temporal_tls_cert, settings.temporal_tls_key
    if bool(cert) != bool(key):  # half a pair used to mean plaintext without a word
        raise ValueError("set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH, or neither")
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    tls: TLSConfig | bool = bool(api_key) if settings.temporal_tls is None else settings.temporal_tls
    if cert or settings.temporal_tls_ca or settings.temporal_tls_server_name:
        if settings.temporal_tls is False:
            raise ValueError("TEMPORAL_TLS=false contradicts the TLS certificate settings")
        tls = TLSConfig(
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
            domain=settings.temporal_tls_server_name,
        )
    return dict(target_host=settings.temporal_address, namespace=settings.temporal_namespace, tls=tls,
                api_key=api_key)


async def connect(settings: Settings, *, serve_metrics: bool = False, codec: PayloadCodec | None = None) -> Client:
    """`serve_metrics`: the worker process only; the CLI connects with the same environment
    and must not try to bind the worker's Prometheus port. `codec`: another payload codec than
    the workers' (intake's own narrow key, codec.bank_details.load_intake_codec)."""
    return await Client.connect(
        **connect_options(settings),
        data_converter=data_converter(codec or load_codec(settings)),
        # Tracing off by default: no interceptor. Set on the client, it applies to its workers.
        interceptors=tracing.configure(settings),
        runtime=metrics.runtime_for(settings.metrics_bind) if serve_metrics and settings.metrics_bind else None,
    )


def activities_for(client: Client, settings: Settings, erp_or_sap: ErpDirectory | SapClient, store: TreasuryStore,
                   bank: BankClient, einvoice: EInvoiceClient | None = None) -> list:
    erps = erp_directory(erp_or_sap, settings)
    vendor_store = VendorStore(store.engine)
    # One per process (build_workers shares these activities across its workers); the sync drops
    # what it sees change, the vendor store is checked before a cached supplier is served.
    master_data_cache = MasterDataCache(settings.master_data_cache_seconds, settings.master_data_cache_entries)
    master_data = MasterDataReads(master_data_cache, vendor_store, settings.fingerprint_secret())
    # Companies paying from a NACHA account pay US suppliers by ABA routing and account number.
    erp = ErpActivities(erps, frozenset(a.company_code for a in settings.paying_accounts.values()
                                        if a.bank_format == "nacha"), master_data)
    treasury = TreasuryActivities(store)
    registers = PaymentRegisters(store.engine)
    outbox = LifecycleOutbox(store.engine)  # signals to lifecycles, sent by an activity
    audit = AuditLog(store.engine)  # decisions and money movements, hash-chained (architecture invariant 13)
    deliveries = LifecycleDeliveries(client, outbox, bank_status_lists=settings.lifecycle_bank_status_lists)
    runs = PaymentRunActivities(client, store, registers, erps, bank, settings.paying_accounts, audit=audit)
    ours = {account.iban: account.account_id for account in settings.paying_accounts.values() if account.iban}
    # A NACHA account's BAI2 statement names it by its account number.
    ours |= {a.account_number: a.account_id for a in settings.paying_accounts.values() if a.account_number}
    inbox = BankInboxActivities(bank, registers, erps, outbox, audit, ours, settings.fingerprint_secret(),
                                timedelta(days=settings.bank_message_retention_days),
                                file_drops=BankFileDrops(settings.paying_accounts), treasury=store)
    recon = ReconciliationActivities(client, erps, store, registers, report_dir=settings.report_dir)
    vendors = VendorSyncActivities(client, supplier_feed(erps), vendor_store, outbox,
                                   settings.fingerprint_secret(), master_data_cache)
    answers = SupplierResponseActivities(einvoice or EInvoiceClient(settings.einvoice_url), settings.legal_entities)
    evidence = BankEvidenceActivities(bank, registers, settings.paying_accounts, settings.bank_not_booked_margin_days)
    duplicates = DuplicateSearch(client, erps, settings.near_duplicate_check)
    return [
        erp.validate_invoice_against_master_data, erp.post_supplier_invoice, erp.set_payment_block,
        erp.release_payment_run_claim, erp.read_open_item,
        duplicates.possible_duplicates, duplicates.possible_duplicates_in_erp,
        duplicates.possible_duplicates_in_lifecycles,
        treasury.register_expected_outflow, treasury.withdraw_expected_outflow,
        runs.paying_account, runs.acquire_paying_account, runs.release_paying_account, runs.register_payment_run,
        runs.select_for_payment_run, runs.reserve_invoices, runs.claim_in_erp, runs.build_payment_files,
        runs.submit_payment_file, runs.tell_lifecycles, runs.release_unsent,
        inbox.collect_bank_messages, inbox.interpret_bank_messages, inbox.post_statement_to_erp,
        inbox.record_statement_problems, inbox.mark_messages_applied, deliveries.deliver_to_lifecycles,
        recon.reconciliation_scope, recon.erp_supplier_items, recon.expected_outflows, recon.lifecycle_facts,
        recon.bank_findings, recon.write_report, vendors.sync_vendor_master, vendors.queue_bank_change_signals,
        vendors.check_vendor_account,
        answers.send_invoice_response,
        evidence.bank_evidence_for_payment, evidence.payment_file_of,
        ControlActivities(settings.controls).read_controls, StartVerification().verify_start,
        StartChecks(settings.controls).admit_invoice,
        DecisionCheckActivities().verify_decision, DecisionAuditActivities(audit).record_decision,
    ]


def build_worker(client: Client, settings: Settings, sap: ErpDirectory | SapClient, store: TreasuryStore,
                 bank: BankClient,
                 einvoice: EInvoiceClient | None = None, **overrides) -> Worker:
    options: dict[str, Any] = dict(
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(client, settings, sap, store, bank, einvoice),
        # A malformed --input (bad JSON shape, float money) fails the workflow with the
        # validation message instead of retrying its first task forever.
        workflow_failure_exception_types=[pydantic.ValidationError],
        workflow_runner=WORKFLOW_RUNNER,
        graceful_shutdown_timeout=DRAIN_TIMEOUT,
        # Sized to the workflows running at once (worker_capacity.py): an evicted one replays.
        max_cached_workflows=settings.max_cached_workflows,
        max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.max_concurrent_activities,
    )
    options.update(overrides)
    deployment = deployment_config(settings)
    if deployment is not None:
        from workflows.versioned import VersionedInvoiceToPayment

        options["deployment_config"] = deployment
        options["workflows"] = [VersionedInvoiceToPayment if w is InvoiceToPayment else w for w in options["workflows"]]
    return Worker(client, **options)


def build_workers(client: Client, settings: Settings, sap: ErpDirectory | SapClient, store: TreasuryStore,
                  bank: BankClient,
                  einvoice: EInvoiceClient | None = None) -> list[Worker]:
    """One Worker per task queue of the roles this process serves, sharing the adapters (one
    connection pool per counterpart). Roles configured onto the same queue share one Worker:
    workers polling one queue must all know every workflow type sent to it. Every activity is
    registered on each queue: a workflow's activities run on its own."""
    activities = activities_for(client, settings, sap, store, bank, einvoice)
    queues: dict[str, list] = {}
    for role in settings.roles():
        queues.setdefault(settings.queue_of(role), []).extend(ROLE_WORKFLOWS[role])
    return [build_worker(client, settings, sap, store, bank, einvoice, task_queue=queue, workflows=workflows,
                         activities=activities) for queue, workflows in queues.items()]


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """Versioned workers: every workflow is pinned to its build unless it says otherwise (the
    lifecycle auto-upgrades). Both settings or neither: half a version is a mistake."""
    if not (settings.deployment_name or settings.build_id):
        return None
    if not (settings.deployment_name and settings.build_id):
        raise ValueError("set both FINSYNC_DEPLOYMENT_NAME and FINSYNC_BUILD_ID (worker versioning), or neither")
    return WorkerDeploymentConfig(version=WorkerDeploymentVersion(settings.deployment_name, settings.build_id),
                                  use_worker_versioning=True, default_versioning_behavior=VersioningBehavior.PINNED)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_masking.install()  # no account number in the log in clear, whatever logged it
    try:
        settings = get_settings()
    except pydantic.ValidationError as e:  # e.g. production on SQLite: say why, no traceback
        raise SystemExit(f"finsync worker not started: {settings_problem(e)}") from None
    try:  # decisions are verified in the workflows' update validators against these keys
        decision_keys.install(decision_keyring(
            environment=settings.environment, issuer=settings.identity_issuer,
            jwks_file=settings.identity_jwks_file, dev_dir=settings.identity_dev_dir))
        # approvals the AP platform signed, verified at a lifecycle's start (activities/decisions.py)
        ap_platform.install(ap_platform.platform_keyring(
            environment=settings.environment, issuer=settings.ap_platform_issuer,
            jwks_file=settings.ap_platform_jwks_file, dev_dir=settings.identity_dev_dir))
    except (IdentityNotConfigured, OSError, ValueError) as e:
        raise SystemExit(f"finsync worker not started: {e}") from None
    # no sample entity receives a company's invoices; no entity's ERP is left unreachable
    if problem := settings.production_problem() or erp_configuration_problem(settings):
        raise SystemExit(f"finsync worker not started: {problem}")
    if settings.environment == "production" and settings.fingerprint_key is None \
            and settings.fingerprint_key_file is None:  # the development key is no secret (invariant 9)
        raise SystemExit("finsync worker not started: FINSYNC_ENVIRONMENT=production needs the bank-account "
                         "fingerprint key (FINSYNC_FINGERPRINT_KEY_FILE, or finsync_fingerprint_key in "
                         "FINSYNC_SECRETS_DIR): the development key is no secret")
    client = await connect(settings, serve_metrics=True)
    store = TreasuryStore.from_settings(settings)
    async with connected_erps(settings) as erps, BankClient.from_settings(settings) as bank, \
            EInvoiceClient(settings.einvoice_url) as einvoice:
        workers = build_workers(client, settings, erps, store, bank, einvoice)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        logging.info("finsync worker on %s, roles %s, task queues %s", settings.temporal_address,
                     ", ".join(settings.roles()), ", ".join(w.task_queue for w in workers))
        if settings.metrics_bind:
            logging.info("metrics on http://%s/metrics", settings.metrics_bind)
        # The endpoint outlives the workers' drain, so probes see it drain rather than vanish.
        async with health.serving(settings.health_bind, workers), contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            await stop.wait()
            logging.info("shutting down: letting running activities finish")
    tracing.shutdown()  # flush the spans still batched


def entry(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python worker.py", description="the finsync Temporal worker")
    parser.add_argument("--check", action="store_true", help="check the configuration and every counterpart it "
                        "names (codec key, treasury store, Temporal namespace and search attributes, SAP, bank, "
                        "e-invoicing), print a verdict per item and exit 0 (all fine) or 1")
    args = parser.parse_args(argv)
    if args.check:
        from cli.check import main as check

        return check()
    asyncio.run(main())
    return 0


if __name__ == "__main__":
    from cli.process_exit import run_main

    run_main(entry)  # skips finalisation: see cli/process_exit.py
