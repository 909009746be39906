"""`python worker.py --check`: is this environment one a worker can run in? Loads the settings,
the codec key, opens the treasury store, asks Temporal for the namespace and the search attributes,
and reaches every ERP the legal entities name (SAP; Tryton, logged in, with each company code it
books), the bank and the e-invoice access point; prints one verdict per item and returns
0 when all pass, else 1. A deploy step (an init container, `docker compose run`) runs it before
the worker, so a wrong setting fails there with its name instead of as retries in history.

Secrets never reach the output: settings errors print the field and pydantic's message (never the
input), and every line is scrubbed of each secret value the settings hold.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pydantic
from sqlalchemy import create_engine, make_url, text
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from identity.configured import decision_keyring
from settings import Settings, load_settings

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Verdict:
    item: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.item:<18} {self.detail}"


def secrets_of(settings: Settings) -> list[str]:
    values = [s.get_secret_value() for s in (settings.temporal_api_key, settings.sap_password, settings.bank_password,
                                             settings.codec_key, settings.tryton_password) if s is not None]
    for url in (settings.treasury_db_url, settings.intake_db_url):
        try:
            password = make_url(url).password
        except Exception:  # noqa: BLE001 - a malformed URL is reported by its own check
            password = None
        if password:
            values.append(str(password))
    return [v for v in values if len(v) >= 3]  # a 1-2 character "secret" would scrub ordinary words


def scrub(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "***")
    return line


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}".strip().splitlines()[0][:300]


def check_codec(settings: Settings) -> Verdict:
    from codec.bank_details import load_codec

    try:
        codec = load_codec(settings)
    except Exception as err:  # noqa: BLE001 - every failure to load the key is this item's verdict
        return Verdict("codec key", False, _error(err))
    return Verdict("codec key", True, f"active key id {codec.active_key_id}")


def check_identity(settings: Settings) -> Verdict:
    """The keys decisions are verified with, and (production) a fingerprint key of its own."""
    if settings.identity_jwks_file is None and settings.environment != "production":
        return Verdict("identity provider", True, f"the development issuer in {settings.identity_dev_dir}")
    try:
        keys = decision_keyring(environment=settings.environment, issuer=settings.identity_issuer,
                                jwks_file=settings.identity_jwks_file, dev_dir=settings.identity_dev_dir)
    except Exception as err:  # noqa: BLE001 - every failure to load the keys is this item's verdict
        return Verdict("identity provider", False, _error(err))
    if settings.environment == "production" and settings.fingerprint_key is None \
            and settings.fingerprint_key_file is None:
        return Verdict("identity provider", False, "no bank-account fingerprint key (FINSYNC_FINGERPRINT_KEY_FILE)")
    return Verdict("identity provider", True, f"{keys.issuer}, {len(keys.keys)} key(s)")


def check_treasury_store(settings: Settings) -> Verdict:
    try:
        url = make_url(settings.treasury_db_url)
        shown = url.render_as_string(hide_password=True)
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as err:  # noqa: BLE001 - a missing driver, a refused login, an unreachable host alike
        return Verdict("treasury store", False, _error(err))
    return Verdict("treasury store", True, f"{shown} opens")


async def check_temporal(settings: Settings) -> tuple[list[Verdict], Client | None]:
    from worker import connect

    target = f"{settings.temporal_address} namespace {settings.temporal_namespace}"
    try:
        client = await asyncio.wait_for(connect(settings), TIMEOUT_SECONDS)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=settings.temporal_namespace))
    except Exception as err:  # noqa: BLE001 - unreachable, TLS refused, unknown namespace: all this item's
        return [Verdict("temporal", False, f"{target}: {_error(err)}")], None
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    return [Verdict("temporal", True, f"{target} exists, retention {retention.days} days")], client


async def check_search_attributes(client: Client) -> Verdict:
    from workflows import search_attributes as sa

    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=client.namespace))
    except Exception as err:  # noqa: BLE001 - e.g. a Cloud API key without the permission to list
        return Verdict("search attributes", False, f"could not list them: {_error(err)}")
    have = dict(listed.custom_attributes)
    missing = [k.name for k in sa.ALL if k.name not in have]
    wrong = [k.name for k in sa.ALL if k.name in have and have[k.name] != int(k.indexed_value_type)]
    if missing or wrong:
        return Verdict("search attributes", False, f"missing {missing or 'none'}, of another type {wrong or 'none'}"
                                                   " (deploy/search-attributes.sh, or tcld for Cloud)")
    return Verdict("search attributes", True, f"all {len(sa.ALL)} registered")


async def check_sap(settings: Settings) -> Verdict:
    """A supplier that does not exist: the real OData path, with the real credentials, answers 404."""
    from adapters.sap import SapClient

    try:
        async with SapClient.from_settings(settings) as sap:
            await asyncio.wait_for(sap.get_supplier("0000000000"), TIMEOUT_SECONDS)
    except Exception as err:  # noqa: BLE001 - unreachable, refused credentials, a server error alike
        return Verdict("sap", False, f"{settings.sap_url}: {_error(err)}")
    return Verdict("sap", True, f"{settings.sap_url} answers the business partner service")


async def check_tryton(settings: Settings, company_codes: list[str]) -> Verdict:
    """A login with the configured user, then each company code booked there: the company whose
    party carries that code must exist in the database (adapters/tryton.py)."""
    from adapters.tryton import TrytonErp

    if not settings.tryton_url:
        return Verdict("tryton", False, f"FINSYNC_TRYTON_URL is not set; company codes {', '.join(company_codes)} "
                                        "book in Tryton")
    target = f"{settings.tryton_url} database {settings.tryton_database}"
    try:
        async with TrytonErp.from_settings(settings) as erp:
            await asyncio.wait_for(erp.rpc.login(), TIMEOUT_SECONDS)
            missing = [c for c in company_codes
                       if await asyncio.wait_for(erp.get_company_code(c), TIMEOUT_SECONDS) is None]
    except Exception as err:  # noqa: BLE001 - unreachable, no such database, refused login alike
        return Verdict("tryton", False, f"{target}: {_error(err)}")
    if missing:
        return Verdict("tryton", False, f"{target} has no company with the code {', '.join(missing)} "
                                        "(the code of the company's party)")
    return Verdict("tryton", True, f"{target}: {settings.tryton_user} logged in, company codes "
                                   f"{', '.join(company_codes)} found")


def erp_checks(settings: Settings) -> list[Callable[[], Awaitable[Verdict]]]:
    """One check per ERP instance the legal entities name, none for an ERP nobody books in."""
    from adapters.erp_connections import ADAPTERS

    books: dict[str, list[str]] = {}
    for code, entity in sorted(settings.legal_entities.items()):
        books.setdefault(entity.erp, []).append(code)
    checks: list[Callable[[], Awaitable[Verdict]]] = []
    for erp, codes in sorted(books.items()):
        if erp == "sap":
            checks.append(lambda: check_sap(settings))
        elif erp == "tryton":
            checks.append(functools.partial(check_tryton, settings, codes))
        else:
            async def unknown(erp: str = erp, codes: list[str] = codes) -> Verdict:
                return Verdict(erp, False, f"company codes {', '.join(codes)} book in ERP {erp!r}, which finsync has "
                                           f"no adapter for ({', '.join(sorted(ADAPTERS))})")
            checks.append(unknown)
    return checks


async def check_http(item: str, url: str, user: str | None, password: pydantic.SecretStr | None) -> Verdict:
    """Reachable and not refusing our credentials: any answer below 500 but 401/403."""
    auth = (user, password.get_secret_value() if password else "") if user else None
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, auth=auth) as http:
            response = await http.get(url)
    except Exception as err:  # noqa: BLE001 - DNS, refused, TLS, timeout alike
        return Verdict(item, False, f"{url}: {_error(err)}")
    if response.status_code in (401, 403) or response.status_code >= 500:
        return Verdict(item, False, f"{url} answered HTTP {response.status_code}")
    return Verdict(item, True, f"{url} answers (HTTP {response.status_code})")


async def run_checks(settings: Settings) -> list[Verdict]:
    from worker import connect_options, deployment_config

    verdicts = []
    try:
        deployment_config(settings)
        connect_options(settings)  # half a TLS pair, TEMPORAL_TLS contradicting certificates, unreadable files
        verdicts.append(Verdict("configuration", True, f"task queue {settings.task_queue}"))
    except (ValueError, OSError) as err:
        verdicts.append(Verdict("configuration", False, _error(err)))
    verdicts += [check_codec(settings), check_identity(settings), check_treasury_store(settings)]
    temporal, client = await check_temporal(settings)
    verdicts += temporal
    if client is not None:
        verdicts.append(await check_search_attributes(client))
    checks: list[Callable[[], Awaitable[Verdict]]] = [
        *erp_checks(settings),
        lambda: check_http("bank", settings.bank_url, settings.bank_user, settings.bank_password),
        lambda: check_http("e-invoicing", settings.einvoice_url, None, None)]
    verdicts += await asyncio.gather(*(c() for c in checks))
    return verdicts


def main() -> int:
    try:
        settings = load_settings()
    except pydantic.ValidationError as err:
        # loc and msg only: pydantic's `input` would echo what was set, a password included.
        for e in err.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            name = f"FINSYNC_{field}".upper() if field in Settings.model_fields else field.upper()
            print(Verdict("configuration", False, f"{name}: {e['msg']}").line())
        print("check failed: the settings do not load")
        return 1
    verdicts = asyncio.run(run_checks(settings))
    secrets = secrets_of(settings)
    for verdict in verdicts:
        print(scrub(verdict.line(), secrets))
    failed = [v.item for v in verdicts if not v.ok]
    print(f"check failed: {', '.join(failed)}" if failed else "check passed")
    return 1 if failed else 0
