"""`python worker.py --check` (cli/check.py) against the session's dev server, mocks and Tryton
server, run as a deploy step runs it: a subprocess with only the environment, its verdicts and
exit code."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.processes import BIN, ManagedProcess
from tests.helpers import run_module, trusted_keys_env
from tests.servers import running
from tests.tryton_server import TrytonServer

SECRET = "hunter2-not-for-logs"


@pytest.fixture(scope="module")
def einvoice_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    def start(port: int, log: Path) -> ManagedProcess:
        return ManagedProcess("mock-einvoice", [str(BIN / "mock-einvoice"), "--port", str(port), "-q"], log)

    with running(start, tmp_path_factory.mktemp("einvoice") / "mock-einvoice.log") as url:
        yield url


def environment(tmp_path: Path, sap: str, bank: str, einvoice: str, **extra: str | None) -> dict[str, str | None]:
    return {"FINSYNC_SAP_URL": sap, "FINSYNC_BANK_URL": bank, "FINSYNC_EINVOICE_URL": einvoice,
            "FINSYNC_TREASURY_DB_URL": f"sqlite:///{tmp_path / 'treasury.db'}", **extra}


def tryton_environment(server: TrytonServer) -> dict[str, str | None]:
    return {"FINSYNC_TRYTON_URL": server.url, "FINSYNC_TRYTON_DATABASE": server.database,
            "FINSYNC_TRYTON_USER": server.user, "FINSYNC_TRYTON_PASSWORD": server.password}


async def check(address: str, env: dict[str, str | None]):
    # A thread: run_module blocks, and the session's fixtures share this event loop.
    return await asyncio.to_thread(run_module, "worker", "--check", address=address, env=env)


def verdicts(stdout: str) -> dict[str, str]:
    return {line.split()[1]: line.split()[0] for line in stdout.splitlines() if line.startswith(("ok", "FAIL"))}


@pytest.mark.clock_independent  # only asks mock-bank whether it answers
async def test_check_passes_against_the_dev_server_and_the_mocks(temporal_address, sap_server, bank_server,
                                                                 einvoice_server, tryton_server, tmp_path):
    # The sample's legal entities: 1710 and 1010 book in SAP, 2710 in Tryton.
    done = await check(temporal_address, environment(tmp_path, sap_server, bank_server, einvoice_server,
                                                     **tryton_environment(tryton_server)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert verdicts(done.stdout) == {"configuration": "ok", "codec": "ok", "identity": "ok", "treasury": "ok",
                                     "temporal": "ok", "search": "ok", "sap": "ok", "tryton": "ok", "bank": "ok",
                                     "e-invoicing": "ok"}, done.stdout
    assert "check passed" in done.stdout and "all 10 registered" in done.stdout  # each of its own type
    assert "admin logged in, company codes 2710 found" in done.stdout


SWEDEN = {"company_code": "3710", "name": "ACME Nordic AB", "country": "SE", "currency": "SEK", "erp": "tryton",
          "paying_account_ids": ["ACMESE"]}
SWEDEN_ACCOUNT = {"account_id": "ACMESE", "name": "ACME Nordic AB", "iban": "SE4550000000058398257466",
                  "company_code": "3710", "currency": "SEK", "run_code": "S"}


@pytest.mark.clock_independent
async def test_each_erp_the_entities_name_is_checked_with_the_company_codes_it_books(
        temporal_address, sap_server, bank_server, einvoice_server, tryton_server, tmp_path):
    # Only Tryton entities: SAP is not asked. 3710 is no company of the seeded database.
    entities = [{**SWEDEN, "company_code": "2710", "paying_account_ids": ["ACMEDE"]}, SWEDEN]
    accounts = {"ACMEDE": {**SWEDEN_ACCOUNT, "account_id": "ACMEDE", "company_code": "2710", "run_code": "D"},
                "ACMESE": SWEDEN_ACCOUNT}
    configured = {"FINSYNC_LEGAL_ENTITIES": json.dumps(entities), "FINSYNC_PAYING_ACCOUNTS": json.dumps(accounts)}
    base = environment(tmp_path, sap_server, bank_server, einvoice_server, **configured)
    missing = await check(temporal_address, {**base, **tryton_environment(tryton_server)})
    unset = await check(temporal_address, base)
    assert missing.returncode == 1 and verdicts(missing.stdout)["tryton"] == "FAIL", missing.stdout
    assert "sap" not in verdicts(missing.stdout)
    assert "has no company with the code 3710 (" in missing.stdout  # 2710 is there
    assert verdicts(unset.stdout)["tryton"] == "FAIL" and "FINSYNC_TRYTON_URL is not set" in unset.stdout
    assert "check failed: tryton" in unset.stdout


@pytest.mark.clock_independent
async def test_broken_settings_fail_by_name_without_echoing_secrets(temporal_address, sap_server, bank_server,
                                                                   einvoice_server, tmp_path):
    env = environment(tmp_path, "http://127.0.0.1:9", bank_server, einvoice_server,
                      FINSYNC_SAP_USER="finsync", FINSYNC_SAP_PASSWORD=SECRET,
                      FINSYNC_TRYTON_URL="http://127.0.0.1:9", FINSYNC_TRYTON_PASSWORD=SECRET,
                      FINSYNC_TREASURY_DB_URL=f"postgresql+psycopg://finsync:{SECRET}@127.0.0.1:9/treasury",
                      TEMPORAL_NAMESPACE="no-such-namespace")
    done = await check(temporal_address, env)
    assert done.returncode == 1
    seen = verdicts(done.stdout)
    assert seen["sap"] == seen["tryton"] == seen["treasury"] == seen["temporal"] == "FAIL", done.stdout
    assert seen["bank"] == seen["codec"] == "ok"
    assert "no-such-namespace" in done.stdout and "check failed: treasury store, temporal, sap, tryton" in done.stdout
    assert SECRET not in done.stdout + done.stderr


async def test_unreadable_values_and_half_settings_are_named(temporal_address, tmp_path):
    bad_number = await check(temporal_address, {"FINSYNC_BANK_TIMEOUT_SECONDS": "soon",
                                                "FINSYNC_BANK_PASSWORD": SECRET})
    assert bad_number.returncode == 1
    assert "FINSYNC_BANK_TIMEOUT_SECONDS: Input should be a valid number" in bad_number.stdout
    assert SECRET not in bad_number.stdout + bad_number.stderr
    cert = tmp_path / "client.pem"
    cert.write_text("not used")
    half = await check(temporal_address, {"TEMPORAL_TLS_CLIENT_CERT_PATH": str(cert), "FINSYNC_CODEC_KEY": None,
                                          "FINSYNC_DEPLOYMENT_NAME": "finsync"})
    assert half.returncode == 1
    lines = half.stdout.splitlines()
    assert any("FAIL  configuration" in x and "FINSYNC_BUILD_ID" in x for x in lines), half.stdout
    assert any("FAIL  codec key" in x for x in lines), half.stdout


@pytest.mark.clock_independent
async def test_production_names_a_missing_identity_provider_and_fingerprint_key(temporal_address, sap_server,
                                                                               bank_server, einvoice_server,
                                                                               tmp_path, issuer):
    base = environment(tmp_path, sap_server, bank_server, einvoice_server, FINSYNC_ENVIRONMENT="production",
                       FINSYNC_TREASURY_DB_URL="postgresql+psycopg://finsync@127.0.0.1:9/treasury")
    nobody = await check(temporal_address, base)
    keys = trusted_keys_env(tmp_path / "keys", issuer)
    no_fingerprint = await check(temporal_address, {**base, **keys, "FINSYNC_FINGERPRINT_KEY": None})
    complete = await check(temporal_address, {**base, **keys})
    assert verdicts(nobody.stdout)["identity"] == "FAIL" and "FINSYNC_IDENTITY_JWKS_FILE" in nobody.stdout
    assert verdicts(no_fingerprint.stdout)["identity"] == "FAIL" and "fingerprint key" in no_fingerprint.stdout
    assert verdicts(complete.stdout)["identity"] == "ok", complete.stdout
