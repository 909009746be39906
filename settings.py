"""Configuration from the environment. Credentials come only from here and are never logged
(DESIGN invariant 9). Production swaps endpoints by setting these, nothing else."""

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BeforeValidator, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from canonical import entities as legal
from canonical.bank import PayingAccount
from canonical.controls import ControlPolicy
from canonical.duplicates import DuplicateRules
from canonical.entities import LegalEntity
from canonical.supplier import CompanyCode
from worker_capacity import WorkerCapacity

# The embedded stack's hybrid sample (canonical/entities.py), development only: production
# refuses to start without FINSYNC_LEGAL_ENTITIES (Settings.production_problem).
DEFAULT_LEGAL_ENTITIES: dict[str, LegalEntity] = dict(legal.SAMPLE_LEGAL_ENTITIES)
DEFAULT_PAYING_ACCOUNTS: dict[str, PayingAccount] = dict(legal.SAMPLE_PAYING_ACCOUNTS)
# The mock ERP has no company-code API; this is the register validation reads (from the entities).
DEFAULT_COMPANY_CODES = {code: entity.company() for code, entity in DEFAULT_LEGAL_ENTITIES.items()}

# Only where no key is configured (development, tests): fingerprints are then comparable but
# not protected against guessing.
DEVELOPMENT_FINGERPRINT_KEY = b"finsync development fingerprints: not a secret"

# A worker's roles (FINSYNC_WORKER_ROLES): each is the workflows of one task queue (worker.py).
ROLES = ("lifecycles", "payments", "back-office")


class Settings(WorkerCapacity):  # the worker's capacity settings: worker_capacity.py
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

    # The second ERP: Tryton over JSON-RPC (adapters/tryton.py), unset where no legal entity
    # books in Tryton. The database is the Tryton database name (SQLite: the file's stem).
    tryton_url: str | None = None
    tryton_database: str = "finsync"
    tryton_user: str = "admin"
    tryton_password: SecretStr | None = None
    tryton_timeout_seconds: float = 60.0

    # Payload encryption: base64 of a 32-byte AES key, or a file holding it.
    codec_key: SecretStr | None = None
    codec_key_file: Path | None = None
    codec_key_id: str = "finsync-1"
    # Keys that only decrypt (retired ones, and the next one while a rotation rolls out).
    codec_read_keys_file: Path | None = None

    # E-invoice intake's own payload key (least privilege: intake never holds the key above);
    # workers, clients and the codec server read it from FINSYNC_CODEC_READ_KEYS_FILE under this id.
    intake_codec_key: SecretStr | None = None
    intake_codec_key_file: Path | None = None
    intake_codec_key_id: str = "finsync-intake-1"
    # Who may push e-invoices: `<sender id> <secret>` a line (intake/signature.py, HMAC-SHA256 of
    # the timestamp and body); a push stamped further than the tolerance from now is a replay.
    intake_senders_file: Path | None = None
    intake_signature_tolerance_seconds: int = Field(default=300, ge=1)
    # Per sender, a token bucket: `burst` pushes at once, then `rate` a second (429 beyond).
    intake_rate_per_second: float = Field(default=5.0, gt=0)
    intake_rate_burst: int = Field(default=100, ge=1)
    # Distinct documents intake passes on per invoice (the first and the ones that differ from
    # it); further ones are refused with 409 and counted, so a flood can not grow a lifecycle.
    intake_documents_per_invoice: int = Field(default=10, ge=1)

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
    # the request keeps `{account}`. No default: the adapter names no bank's paths (the embedded
    # stack and the tests set mock-bank's). Unset download: no HTTP download (every paying account
    # banks through directories, `channel` "file-drop" in FINSYNC_PAYING_ACCOUNTS); unset request:
    # no intraday report is asked for.
    bank_download_path: str | None = None
    bank_report_request_path: str | None = Field(default=None, pattern=r"\{account\}")
    # A payment someone reports rejected is only paid again once the bank's own messages say
    # it will not be: a balanced end-of-day statement this many days past the requested
    # execution date without the debit counts as "not booked" (weekend + a holiday).
    bank_not_booked_margin_days: int = Field(default=4, ge=1)
    # The e-invoice network's access point (mock-einvoice): Invoice Responses to suppliers.
    einvoice_url: str = "http://127.0.0.1:8100"
    paying_accounts: dict[str, PayingAccount] = Field(default_factory=lambda: dict(DEFAULT_PAYING_ACCOUNTS))

    # The legal entities (canonical/entities.py): per company code its ERP instance, paying
    # accounts, Peppol identity and currency. JSON in FINSYNC_LEGAL_ENTITIES, a list or an object
    # keyed by company code. The company-code register below follows it unless set on its own.
    legal_entities: Annotated[dict[str, LegalEntity], BeforeValidator(legal.keyed_by_company)] = Field(
        default_factory=lambda: dict(DEFAULT_LEGAL_ENTITIES))
    company_codes: dict[str, CompanyCode] = Field(default_factory=dict)
    _entities_configured: bool = PrivateAttr(default=False)

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

    # The finance team's controls (canonical/controls.py): approval thresholds and limits per
    # role, release_above for every payment run, the bank-details cooling-off. JSON in
    # FINSYNC_CONTROLS, e.g. {"release_above": "250000"}; never taken from a caller's input.
    controls: ControlPolicy = Field(default_factory=ControlPolicy)

    # Who decides (identity/, architecture invariant 8): the identity provider's issuer and its
    # public keys (JWKS file). Decisions carry tokens signed by it. Unset in development: the
    # embedded stack's local issuer under `identity_dev_dir`; production refuses to start without.
    identity_issuer: str | None = None
    identity_jwks_file: Path | None = None
    identity_dev_dir: Path = Path(".finsync") / "identity"
    # The AP platform whose signed approvals (`ap_platform_approval`) let an invoice skip
    # finsync's approval (identity/ap_platform.py): its issuer and public keys. Unset in
    # development: a local stand-in under `identity_dev_dir`; unset in production: none is
    # trusted and every invoice is approved in finsync.
    ap_platform_issuer: str | None = None
    ap_platform_jwks_file: Path | None = None

    # The codec server (codec/server.py, architecture invariant 9): who may read bank details in
    # the Web UI. The bearer token the UI forwards is a JWT of the identity provider above (the
    # local issuer in development) for `codec_audience`, whose claim `codec_role_claim` (a dotted
    # path for nested claims, e.g. realm_access.roles) names one of `codec_decode_roles`; /encode
    # (inputs sent from the UI) needs one of `codec_encode_roles`, never a decode role. Roles are
    # comma-separated. `codec_token_in_path` (development only) also takes the token from the
    # endpoint URL (/token/<jwt>/decode): the dev server's UI cannot forward a signed-in user's token.
    codec_audience: str = "finsync-codec"
    codec_role_claim: str = "roles"
    codec_decode_roles: Annotated[frozenset[str], NoDecode] = frozenset({"finsync-decode"})
    codec_encode_roles: Annotated[frozenset[str], NoDecode] = frozenset({"finsync-encode"})
    codec_token_in_path: bool = False
    # Bank details at rest (architecture invariant 9): the key of the bank-account fingerprints
    # (HMAC-SHA256; canonical/vendors.py), from FINSYNC_FINGERPRINT_KEY, its file in
    # FINSYNC_SECRETS_DIR or FINSYNC_FINGERPRINT_KEY_FILE; unset, a development key that is no
    # secret. Raw bank message bodies are purged this many days after they were applied.
    fingerprint_key: SecretStr | None = None
    fingerprint_key_file: Path | None = None
    bank_message_retention_days: int = Field(default=400, ge=1)
    # Several bank answers for one lifecycle in one inbox batch go as one `bank_statuses` signal
    # (one billed action instead of one each). Off until every lifecycle worker runs a build that
    # knows that signal: an older one would refuse it and lose the answers (README, "Bank answers").
    lifecycle_bank_status_lists: bool = False

    # The intake's supplier register.
    einvoice_register: Path | None = None

    def fingerprint_secret(self) -> bytes:
        """The fingerprint key's bytes (the text as given, file content stripped)."""
        if self.fingerprint_key is not None:
            return self.fingerprint_key.get_secret_value().encode()
        if self.fingerprint_key_file is not None:
            return self.fingerprint_key_file.read_text().strip().encode()
        return DEVELOPMENT_FINGERPRINT_KEY

    def production_problem(self) -> str | None:
        """Why a production process must not start, else None: never the sample's entities there."""
        return ("FINSYNC_ENVIRONMENT=production needs FINSYNC_LEGAL_ENTITIES (JSON: each company code's ERP, paying "
                "accounts, Peppol identity and currency): the sample entities are no production configuration"
                ) if self.environment == "production" and not self._entities_configured else None

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

    @field_validator("codec_decode_roles", "codec_encode_roles", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return frozenset(r.strip() for r in value.split(",") if r.strip()) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _codec_roles(self) -> "Settings":
        if not self.codec_decode_roles or not self.codec_encode_roles:
            raise ValueError("FINSYNC_CODEC_DECODE_ROLES and FINSYNC_CODEC_ENCODE_ROLES each need a role")
        if shared := self.codec_decode_roles & self.codec_encode_roles:
            # Encoding is encrypting under the active key: a reader must not be able to forge payloads.
            raise ValueError(f"FINSYNC_CODEC_ENCODE_ROLES shares {', '.join(sorted(shared))} with "
                             "FINSYNC_CODEC_DECODE_ROLES: /encode needs a role of its own")
        if self.codec_token_in_path and self.environment == "production":
            raise ValueError("FINSYNC_CODEC_TOKEN_IN_PATH is for the embedded stack only: in production the Web "
                             "UI forwards the signed-in user's token (TEMPORAL_CODEC_PASS_ACCESS_TOKEN)")
        return self

    @model_validator(mode="after")
    def _entities_route_everything(self) -> "Settings":
        self._entities_configured = "legal_entities" in self.model_fields_set  # before anything below sets it
        if not self._entities_configured and "paying_accounts" in self.model_fields_set:
            # Development: the sample's entities of the configured accounts' company codes.
            self.legal_entities = legal.entities_of_accounts(DEFAULT_LEGAL_ENTITIES, self.paying_accounts)
        if not self.company_codes:
            self.company_codes = {code: entity.company() for code, entity in self.legal_entities.items()}
        if problems := legal.check_entities(self.legal_entities, self.paying_accounts):
            raise ValueError("legal entities and paying accounts disagree: " + "; ".join(problems))
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
