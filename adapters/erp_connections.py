"""The ERP connections of a worker process (wiring, like worker.py): one port per ERP instance
the legal entities name, and the directory that routes company codes to them
(adapters/erp_directory.py). An instance is named by its kind ("sap", "tryton")."""

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from adapters.erp_directory import ErpDirectory
from adapters.erp_errors import ErpBusinessError
from adapters.erp_port import ErpPort, SupplierMasterFeed
from adapters.sap import SapClient
from adapters.sap_erp import SapErp

if TYPE_CHECKING:
    from settings import Settings

# ERP kind -> (module, class) of its adapter, imported by name: an adapter not installed in
# this build is no connection, and the company codes booked there are refused, never rerouted.
ADAPTERS = {"sap": ("adapters.sap_erp", "SapErp"), "tryton": ("adapters.tryton", "TrytonErp")}
# ERP kind -> the setting without which this process has no connection to it (SAP's URL has a
# default; Tryton's has none: the sample's company code 2710 books there only where one is set).
CONNECTION_SETTING = {"sap": "sap_url", "tryton": "tryton_url"}


def unconfigured_erps(settings: "Settings") -> dict[str, list[str]]:
    """ERP instances the legal entities name whose connection setting is unset -> their company codes."""
    missing: dict[str, list[str]] = {}
    for code, entity in sorted(settings.legal_entities.items()):
        setting = CONNECTION_SETTING.get(entity.erp)
        if setting is not None and not getattr(settings, setting):
            missing.setdefault(entity.erp, []).append(code)
    return missing


def erp_configuration_problem(settings: "Settings") -> str | None:
    """Why a production process must not start (an entity's ERP it can not reach), else None."""
    missing = unconfigured_erps(settings)
    if settings.environment != "production" or not missing:
        return None
    return "; ".join(f"company code(s) {', '.join(codes)} book in ERP {erp!r}, but FINSYNC_"
                     f"{CONNECTION_SETTING[erp].upper()} is not set" for erp, codes in missing.items())


def erp_directory(erp: ErpDirectory | SapClient, settings: "Settings") -> ErpDirectory:
    """The ERP directory; a bare SapClient (tests, benches) serves the ERP instance "sap" only."""
    if isinstance(erp, ErpDirectory):
        return erp
    return ErpDirectory({"sap": SapErp(erp)}, settings.legal_entities, settings.paying_accounts)


def _erp_class(kind: str) -> Any:
    if kind not in ADAPTERS:
        return None
    module, name = ADAPTERS[kind]
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


@contextlib.asynccontextmanager
async def connected_erps(settings: "Settings") -> AsyncIterator[ErpDirectory]:
    """One port per ERP instance the legal entities name (instance name = its kind: "sap",
    "tryton"), closed on exit, in the directory that routes company codes to them. An instance
    without its connection setting is left out in development (its company codes are refused,
    never rerouted: ErpNotConnected) and refused in production (ValueError, before any port)."""
    unconfigured = unconfigured_erps(settings)
    if problem := erp_configuration_problem(settings):
        raise ValueError(problem)
    async with contextlib.AsyncExitStack() as open_ports:
        ports: dict[str, ErpPort] = {}
        for name in sorted({entity.erp for entity in settings.legal_entities.values()}):
            cls = _erp_class(name)
            if cls is None:
                logging.warning("ERP %r of the legal entities has no adapter here: its company codes are refused", name)
                continue
            if name in unconfigured:  # development: the sample names an ERP this process was not given
                logging.warning("ERP %r is not configured (FINSYNC_%s unset): company codes %s are refused", name,
                                CONNECTION_SETTING[name].upper(), ", ".join(unconfigured[name]))
                continue
            port = cls.from_settings(settings)
            ports[name] = await open_ports.enter_async_context(port) if hasattr(port, "__aenter__") else port
        yield ErpDirectory(ports, settings.legal_entities, settings.paying_accounts)


class _NoSupplierFeed:
    """No connected ERP offers a supplier change feed: the vendor master sync says so."""

    @staticmethod
    def _none() -> ErpBusinessError:
        return ErpBusinessError(503, "FINSYNC/NO_SUPPLIER_FEED", "no connected ERP offers a supplier change feed")

    async def read_suppliers(self, delta_token: str | None = None) -> Any:
        raise self._none()

    async def read_bank_accounts(self, changers: dict[tuple[str, str], str] | None = None) -> Any:
        raise self._none()

    async def read_vat_ids(self) -> dict[str, str] | None:
        raise self._none()


def supplier_feed(erps: ErpDirectory) -> SupplierMasterFeed:
    """The vendor store mirrors the first connected ERP (by name) whose supplier master is a feed."""
    return next((port for _, port in erps.ports() if isinstance(port, SupplierMasterFeed)), _NoSupplierFeed())
