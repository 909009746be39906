"""A mock-sap per test module (its own clock and data) and a SapClient on it, for the SAP adapter tests."""

import pytest

from adapters.sap import SapClient
from cli.processes import mock_sap
from settings import DEFAULT_COMPANY_CODES
from tests.servers import running


@pytest.fixture(scope="module")
def sap_url(tmp_path_factory):
    with running(lambda port, log: mock_sap(port, clock="2026-10-01T09:00", log=log),
                 tmp_path_factory.mktemp("sap") / "mock-sap.log") as url:
        yield url


@pytest.fixture
async def sap(sap_url):
    async with SapClient(sap_url, company_codes=DEFAULT_COMPANY_CODES) as client:
        yield client
