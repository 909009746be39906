"""Configuration from the environment. Credentials come only from here and are never logged
(DESIGN invariant 9). Production swaps endpoints by setting these, nothing else."""

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from canonical.bank import PayingAccount
from canonical.duplicates import DuplicateRules
from canonical.supplier import CompanyCode

# The mock ERP has no company-code API; this is the register validation reads.
DEFAULT_COMPANY_CODES = {
    "1710": CompanyCode(company_code="1710", name="ACME Europe B.V.", country="NL", currency="EUR"),
}

# Our accounts at the bank (mock-bank's seed account ACME pays for company code 1710).
DEFAULT_PAYING_ACCOUNTS = {
    "ACME": PayingAccount(account_id="ACME", name="ACME Europe B.V.", iban="NL41MOCK0000000001", bic="MOCKNL2A",
                          company_code="1710", currency="EUR"),
}

# A worker's roles (FINSYNC_WORKER_ROLES): each is the workflows of one task queue (worker.py).
ROLES = ("lifecycles", "payments", "back-office")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FINSYNC_", extra="ignore")

    # Temporal: the same variables the `temporal` CLI reads (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
    # TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_API_KEY), so one
    # environment serves the worker and an operator's CLI. TEMPORAL_TLS_CERT/_KEY, the names
    # used before, are still read; the CLI's names win when both are set.
    temporal_address: str = Field(default="localhost:7233", validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_tls_cert: Path | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CERT"))
    temporal_tls_key: Path | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_TLS_CLIENT_KEY_PATH", "TEMPORAL_TLS_KEY"))
    temporal_api_key: SecretStr | None = Field(default=None, validation_alias="TEMPORAL_API_KEY")
    # The rest of the CLI's TLS options: TLS without a client certificate (a cluster behind a
    # TLS-terminating proxy), a private CA and a server name for a self-hosted cluster.
    temporal_tls: bool | None = Field(default=None, validation_alias="TEMPORAL_TLS")
    temporal_tls_ca: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH")
    temporal_tls_server_name: str | None = Field(default=None, validation_alias="TEMPORAL_TLS_SERVER_NAME")
    # Task queues by kind of work, so one kind can not starve another (a payment run's
    # thousands of activities never queue ahead of a lifecycle's next step): lifecycles; payment
    # runs, the bank inbox and its statement posts; reconciliation and vendor sync.
    task_queue: str = "finsync"
    payments_task_queue: str = "finsync-payments"
    back_office_task_queue: str = "finsync-back-office"
    # Which of those queues this worker process serves, comma-separated (lifecycles, payments,
    # back-office) or "all": a deployment may run each kind on its own replicas.
    worker_roles: str = "all"
    # Worker Deployment Versioning (docs/architecture.md, "Upgrades"): set both in production so
    # runs, the inbox, statement posts, reconciliation and vendor sync stay on the build that
    # started them (pinned) while lifecycles move to the current build (auto-upgrade, patched).
    # Unset (the embedded stack, tests): an unversioned worker.
    deployment_name: str | None = None
    build_id: str | None = None

    # ERP (SAP S/4HANA OData V2).
    sap_url: str = "http://127.0.0.1:8000"
    sap_client: str = "100"
    sap_user: str | None = None
    sap_password: SecretStr | None = None
    sap_timeout_seconds: float = 30.0
    # Measured (bench/sap_connection.py): persistent connections stall ~45 ms per request on
    # this server; a fresh connection per request is faster. Flip for a real gateway.
    sap_keepalive: bool = False

    # Payload encryption: base64 of a 32-byte AES key, or a file holding it.
    codec_key: SecretStr | None = None
    codec_key_file: Path | None = None
    codec_key_id: str = "finsync-1"
    # Keys that only decrypt (retired ones, and the next one while a rotation rolls out).
    codec_read_keys_file: Path | None = None

    # production: several worker replicas share one treasury store, so it must be a server
    # database (PostgreSQL); development (the embedded stack, tests) may use the SQLite file.
    environment: Literal["development", "production"] = "development"
    treasury_db_url: str = "sqlite:///.finsync/treasury.db"
    # E-invoice intake's own register of documents already passed on (byte-identical pushes).
    intake_db_url: str = "sqlite:///.finsync/intake.db"
    # Where the Reconciliation keeps its JSON reports (`python -m cli report --reconciliation`).
    report_dir: Path = Path(".finsync") / "reports"

    # Bank (ISO 20022 over HTTP).
    bank_url: str = "http://127.0.0.1:8090"
    bank_user: str | None = None
    bank_password: SecretStr | None = None
    bank_timeout_seconds: float = 60.0
    # The bank connection's message download and intraday-report request (adapters/bank_channel.py);
    # unset: mock-bank's. Another bank's connection names its own; the request keeps `{account}`.
    bank_download_path: str | None = None
    bank_report_request_path: str | None = Field(default=None, pattern=r"\{account\}")
    # A payment someone reports rejected is only paid again once the bank's own messages say
    # it will not be: a balanced end-of-day statement this many days past the requested
    # execution date without the debit counts as "not booked" (weekend + a holiday).
    bank_not_booked_margin_days: int = Field(default=4, ge=1)
    # The e-invoice network's access point (mock-einvoice): Invoice Responses to suppliers.
    einvoice_url: str = "http://127.0.0.1:8100"
    paying_accounts: dict[str, PayingAccount] = Field(default_factory=lambda: dict(DEFAULT_PAYING_ACCOUNTS))

    company_codes: dict[str, CompanyCode] = Field(default_factory=lambda: dict(DEFAULT_COMPANY_CODES))

    # Matching of invoice lines to purchase orders (activities/po_matching.py). Percentages
    # above the PO's net price per unit and above the ordered (or received) quantity that
    # still pass; beyond them the invoice waits for the buyer. Decimal, so "2.5" stays exact.
    po_price_tolerance_percent: Decimal = Field(default=Decimal(2), ge=0)
    po_quantity_tolerance_percent: Decimal = Field(default=Decimal(0), ge=0)
    # Off: a PO item without any goods receipt (services, goods not yet received) is matched
    # two-way against the PO only. On: such lines wait for the buyer until goods are received.
    po_require_goods_receipt: bool = False
    # Before posting, a lifecycle looks for the supplier's invoices in the ERP and among the
    # running lifecycles with the same amount and a reference equal but for punctuation,
    # leading zeros and case, or the same invoice date ("reference-or-date"); "reference":
    # the reference rule only (a supplier billing the same amount many times a day); "off".
    near_duplicate_check: DuplicateRules = "reference-or-date"

    # Telemetry, off by default (telemetry/). Tracing: one trace per invoice from the workflow
    # through each activity into each HTTP call; exported over OTLP/HTTP when an endpoint is
    # set here or in the standard OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, otherwise only the
    # trace context travels (traceparent reaches SAP and the bank for their logs).
    otel_tracing: bool = False
    otlp_endpoint: str | None = None
    # host:port of the worker's Prometheus /metrics (SDK runtime and finance metrics), e.g.
    # "127.0.0.1:9464". Only the worker process binds it, never the CLI.
    metrics_bind: str | None = None
    # host:port of the worker's liveness/readiness endpoint (telemetry/health.py), e.g.
    # "0.0.0.0:8081" in a container. Unset: no endpoint.
    health_bind: str | None = None

    # The codec server's bearer token (codec/server.py) and the intake's supplier register.
    codec_server_token: SecretStr | None = None
    einvoice_register: Path | None = None

    def roles(self) -> list[str]:
        """The roles this worker serves, in ROLES order."""
        named = {r.strip() for r in self.worker_roles.split(",") if r.strip()}
        return list(ROLES) if named == {"all"} else [r for r in ROLES if r in named]

    def queue_of(self, role: str) -> str:
        return {"lifecycles": self.task_queue, "payments": self.payments_task_queue,
                "back-office": self.back_office_task_queue}[role]

    @model_validator(mode="after")
    def _known_roles(self) -> "Settings":
        named = {r.strip() for r in self.worker_roles.split(",") if r.strip()}
        if not named or (named != {"all"} and not named <= set(ROLES)):
            raise ValueError(f"FINSYNC_WORKER_ROLES={self.worker_roles!r}: name one or more of "
                             f"{', '.join(ROLES)}, comma-separated, or all")
        return self

    @model_validator(mode="after")
    def _shared_store_in_production(self) -> "Settings":
        # Each replica would open its own SQLite file: its own payment runs, account locks and
        # statement claims, so two replicas could pay the same run. Refuse before anything starts.
        if self.environment == "production" and self.treasury_db_url.split(":", 1)[0].startswith("sqlite"):
            raise ValueError(
                f"FINSYNC_ENVIRONMENT=production refuses a SQLite treasury store ({self.treasury_db_url}): every "
                "worker replica would keep its own payment runs, locks and statement claims. Set "
                "FINSYNC_TREASURY_DB_URL to the shared PostgreSQL database (postgresql+psycopg://user@host/db)")
        return self


# Containers mount secrets as files (compose `secrets:`, Kubernetes secret volumes): with this
# set, a file named like the variable (finsync_sap_password, temporal_api_key, ...; any case)
# in that directory supplies it. A variable that is set still wins.
SECRETS_DIR_VARIABLE = "FINSYNC_SECRETS_DIR"


def load_settings() -> Settings:
    secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE) or None
    return Settings(_secrets_dir=secrets_dir)


def settings_problem(error: Exception) -> str:
    """A settings error in one line per problem, without echoing the input (it holds secrets)."""
    errors = getattr(error, "errors", None)
    if errors is None:
        return str(error)
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in errors())


@lru_cache
def get_settings() -> Settings:
    return load_settings()
