"""The legal entities finsync pays for, in one configuration (settings `legal_entities`,
FINSYNC_LEGAL_ENTITIES): each company code names the ERP instance that books it, the paying
accounts its runs pay from, its Peppol identity and its currency. Routing reads only this:
nothing defaults to one company or one account (docs/architecture.md, "ERP port")."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.money import CurrencyCode
from canonical.supplier import CompanyCode


class LegalEntity(BaseModel):
    """One company code: whose books (`erp`, an ERP instance: "sap", "tryton"), whose money
    (`paying_account_ids`, settings `paying_accounts`) and whose name on the e-invoice network
    (`peppol_endpoint`, scheme:identifier, e.g. 0088:8712345000011)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    company_code: str = Field(min_length=1, max_length=10)
    name: str
    country: str = Field(min_length=2, max_length=2)
    currency: CurrencyCode
    erp: str = Field(min_length=1, description="the ERP instance that books this company code")
    peppol_endpoint: str = ""
    paying_account_ids: list[str] = []
    allowed_currencies: list[str] = []

    def company(self) -> CompanyCode:
        """The register entry master-data validation reads (ErpPort.get_company_code)."""
        return CompanyCode(company_code=self.company_code, name=self.name, country=self.country,
                           currency=self.currency, allowed_currencies=list(self.allowed_currencies))


# The embedded stack's hybrid sample (a development default only: production refuses to start
# without FINSYNC_LEGAL_ENTITIES, settings.py). 1710 pays from mock-bank's seed account ACME;
# 1010 (NACHA, USD) and 2710 (Tryton) are declared for their adapters.
SAMPLE_LEGAL_ENTITIES: dict[str, LegalEntity] = {
    "1710": LegalEntity(company_code="1710", name="ACME Europe B.V.", country="NL", currency="EUR", erp="sap",
                        peppol_endpoint="0088:8712345000011", paying_account_ids=["ACME"]),
    "1010": LegalEntity(company_code="1010", name="ACME Americas Inc.", country="US", currency="USD", erp="sap",
                        peppol_endpoint="0060:123456789", paying_account_ids=["ACMEUS"]),
    "2710": LegalEntity(company_code="2710", name="ACME Retail GmbH", country="DE", currency="EUR", erp="tryton",
                        peppol_endpoint="9930:DE123456789", paying_account_ids=["ACMEDE"]),
}


def keyed_by_company(value: object) -> object:
    """FINSYNC_LEGAL_ENTITIES may be a JSON list of entities or an object keyed by company code;
    either becomes the object (a key that contradicts its entity is refused by `check_entities`)."""
    if isinstance(value, list):
        return {str(e.get("company_code") if isinstance(e, dict) else e.company_code): e for e in value}
    return value


def check_entities(entities: dict[str, LegalEntity], paying_account_companies: dict[str, str]) -> list[str]:
    """Contradictions in the configuration, in words ([] if none). `paying_account_companies`:
    each configured paying account's company code. Every entity's accounts must exist and
    belong to it, and no account may pay for two entities."""
    problems = []
    owner: dict[str, str] = {}
    for code, entity in entities.items():
        if code != entity.company_code:
            problems.append(f"legal entity under key {code!r} is company code {entity.company_code!r}")
        for account in entity.paying_account_ids:
            if account in owner:
                problems.append(f"paying account {account} is named by company codes {owner[account]} and {code}")
            owner[account] = code
            if account not in paying_account_companies:
                problems.append(f"company code {code} pays from {account}, which is not a configured paying account")
            elif paying_account_companies[account] != code:
                problems.append(f"paying account {account} belongs to company code "
                                f"{paying_account_companies[account]}, not {code}")
    for account, code in sorted(paying_account_companies.items()):
        if code not in entities:
            problems.append(f"paying account {account} pays for company code {code}, which is no legal entity")
    return problems
