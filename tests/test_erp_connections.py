"""A worker's ERP connections from its settings (adapters/erp_connections.py): company code 2710
reaches the real Tryton server from FINSYNC_TRYTON_* alone; an entity's ERP without its
connection setting is left out in development (its company codes refused, never rerouted) and
stops a production worker before it starts."""

import pytest

from adapters.erp_connections import connected_erps, erp_configuration_problem, unconfigured_erps
from adapters.erp_directory import ErpNotConnected
from adapters.tryton import TrytonErp
from settings import Settings
from tests.tryton_server import TrytonServer

PRODUCTION = dict(environment="production", treasury_db_url="postgresql+psycopg://u@h/db")


async def test_company_code_2710_reaches_tryton_from_the_settings(tryton_server: TrytonServer):
    settings = Settings(tryton_url=tryton_server.url, tryton_database=tryton_server.database,
                        tryton_user=tryton_server.user, tryton_password=tryton_server.password)
    async with connected_erps(settings) as erps:
        port = erps.for_company("2710")
        assert isinstance(port, TrytonErp) and erps.for_paying_account("ACMEDE") is port
        company = await port.get_company_code("2710")
        assert company is not None and company.name == "ACME Retail GmbH"
        assert erps.for_company("1710").kind == "sap"


async def test_an_erp_without_its_connection_is_left_out_in_development(caplog: pytest.LogCaptureFixture):
    settings = Settings()  # the sample: 2710 books in Tryton, and no FINSYNC_TRYTON_URL here
    assert unconfigured_erps(settings) == {"tryton": ["2710"]} and erp_configuration_problem(settings) is None
    async with connected_erps(settings) as erps:
        assert [name for name, _ in erps.ports()] == ["sap"]
        with pytest.raises(ErpNotConnected):
            erps.for_company("2710")  # refused, never booked in SAP instead
    assert "FINSYNC_TRYTON_URL unset" in caplog.text and "2710" in caplog.text


async def test_production_does_not_start_without_an_entitys_erp():
    entities = Settings().legal_entities  # the sample, named as production names its entities
    settings = Settings(**PRODUCTION, legal_entities=entities)
    problem = erp_configuration_problem(settings)
    assert problem == "company code(s) 2710 book in ERP 'tryton', but FINSYNC_TRYTON_URL is not set"
    with pytest.raises(ValueError, match="FINSYNC_TRYTON_URL"):
        async with connected_erps(settings):
            pass
    assert erp_configuration_problem(Settings(**PRODUCTION, legal_entities=entities,
                                              tryton_url="http://tryton.example.internal:8000")) is None
