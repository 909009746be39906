"""Which ERP books which company code: the legal entities' configuration (canonical/entities.py)
over the ERP instances this process connected (worker.py). Activities ask it for a company's
port, a document's port (ErpDocument.erp) or a paying account's port; they never pick an ERP
themselves, and nothing falls back to one company or one ERP."""

from collections.abc import Iterator, Mapping

from adapters.erp_errors import ErpBusinessError
from adapters.erp_port import ErpPort
from canonical.bank import PayingAccount
from canonical.entities import LegalEntity
from canonical.status import ErpDocument


class UnknownCompanyCode(ErpBusinessError):
    """No legal entity is configured for the company code: nothing can be routed for it."""

    def __init__(self, company_code: str, known: list[str]):
        super().__init__(404, "FINSYNC/UNKNOWN_COMPANY_CODE",
                         f"company code {company_code} is no legal entity of finsync (configured: {', '.join(known)})")


class ErpNotConnected(ErpBusinessError):
    """The configuration names an ERP instance this process has no connection to."""

    def __init__(self, erp: str, connected: list[str]):
        super().__init__(503, "FINSYNC/ERP_NOT_CONNECTED",
                         f"ERP {erp!r} is not connected in this worker (connected: {', '.join(connected) or 'none'})")


class ErpDirectory:
    def __init__(self, ports: Mapping[str, ErpPort], entities: Mapping[str, LegalEntity],
                 paying_accounts: Mapping[str, PayingAccount] | None = None) -> None:
        """`ports`: ERP instance name -> its port; `entities`: company code -> legal entity."""
        self._ports, self._entities = dict(ports), dict(entities)
        self._accounts = dict(paying_accounts or {})

    def entity(self, company_code: str) -> LegalEntity:
        entity = self._entities.get(company_code)
        if entity is None:
            raise UnknownCompanyCode(company_code, sorted(self._entities))
        return entity

    def entities(self) -> list[LegalEntity]:
        """Every configured legal entity, by company code."""
        return [self._entities[code] for code in sorted(self._entities)]

    def for_company(self, company_code: str) -> ErpPort:
        """The port of the ERP that books this company code."""
        return self.named(self.entity(company_code).erp)

    def for_document(self, doc: ErpDocument) -> ErpPort:
        """The port of the ERP that made this document (documents before several ERPs: SAP's)."""
        return self.named(doc.erp)

    def for_paying_account(self, account_id: str) -> ErpPort:
        """The port of the ERP that books the company code this account pays for."""
        account = self._accounts.get(account_id)
        if account is None:
            raise ErpBusinessError(404, "FINSYNC/UNKNOWN_PAYING_ACCOUNT",
                                   f"no paying account {account_id}; known: {', '.join(sorted(self._accounts))}")
        return self.for_company(account.company_code)

    def named(self, erp: str) -> ErpPort:
        port = self._ports.get(erp)
        if port is None:
            raise ErpNotConnected(erp, sorted(self._ports))
        return port

    def company_codes(self, erp: str | None = None) -> list[str]:
        """The configured company codes, of one ERP instance or of all."""
        return sorted(code for code, e in self._entities.items() if erp is None or e.erp == erp)

    def ports(self) -> Iterator[tuple[str, ErpPort]]:
        yield from sorted(self._ports.items())
