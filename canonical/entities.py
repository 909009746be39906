"""The legal entities finsync pays for, in one configuration (settings `legal_entities`,
FINSYNC_LEGAL_ENTITIES): each company code names the ERP instance that books it, the paying
accounts its runs pay from, its Peppol identity and its currency. Routing reads only this:
nothing defaults to one company or one account (docs/architecture.md, "ERP port")."""

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from canonical.bank import PayingAccount
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


# Their accounts at the bank: mock-bank's seed account ACME; ACMEUS (a US account paid in NACHA
# files) and ACMEDE; each with its own run code (PayingAccount.run_code).
SAMPLE_PAYING_ACCOUNTS: dict[str, PayingAccount] = {
    "ACME": PayingAccount(account_id="ACME", name="ACME Europe B.V.", iban="NL41MOCK0000000001", bic="MOCKNL2A",
                          company_code="1710", currency="EUR"),
    # ABA routing 999999992 is mock-bank's own; the account number is the NACHA company identification.
    "ACMEUS": PayingAccount(account_id="ACMEUS", name="ACME Americas Inc.", iban="NL55MOCK0000001010",
                            company_code="1010", currency="USD", run_code="U", bank_format="nacha",
                            routing_number="999999992", account_number="1010000001"),
    "ACMEDE": PayingAccount(account_id="ACMEDE", name="ACME Retail GmbH", iban="DE92500105170000002710",
                            bic="MOCKDEFF", company_code="2710", currency="EUR", run_code="D"),
}

def keyed_by_company(value: object) -> object:
    """FINSYNC_LEGAL_ENTITIES may be a JSON list of entities or an object keyed by company code;
    either becomes the object (a key that contradicts its entity is refused by `check_entities`)."""
    if isinstance(value, list):
        return {str(e.get("company_code") if isinstance(e, dict) else e.company_code): e for e in value}
    return value


def entities_of_accounts(sample: dict[str, LegalEntity], accounts: Mapping[str, PayingAccount],
                         ) -> dict[str, LegalEntity]:
    """Accounts configured, entities not (development only: production names its entities): the
    sample's entities of those accounts' company codes, paying from those accounts only."""
    return {code: entity.model_copy(update={"paying_account_ids": [
        a.account_id for a in accounts.values() if a.company_code == code]})
        for code, entity in sample.items() if any(a.company_code == code for a in accounts.values())}


def check_entities(entities: dict[str, LegalEntity], accounts: Mapping[str, PayingAccount]) -> list[str]:
    """Contradictions in the configuration, in words ([] if none). Every entity's accounts must
    exist and belong to it, no account may pay for two entities or for none, and no two accounts
    may share a run code (their runs of one day would carry the same ERP run id)."""
    problems = []
    owner: dict[str, str] = {}
    for code, entity in entities.items():
        if code != entity.company_code:
            problems.append(f"legal entity under key {code!r} is company code {entity.company_code!r}")
        for account_id in entity.paying_account_ids:
            if account_id in owner:
                problems.append(f"paying account {account_id} is named by company codes {owner[account_id]} and {code}")
            owner[account_id] = code
            account = accounts.get(account_id)
            if account is None:
                problems.append(f"company code {code} pays from {account_id}, which is not a configured paying account")
            elif account.company_code != code:
                problems.append(f"paying account {account_id} belongs to company code {account.company_code}, "
                                f"not {code}")
    runs: dict[str, str] = {}
    for account_id, account in sorted(accounts.items()):
        if account.company_code not in entities:
            problems.append(f"paying account {account_id} pays for company code {account.company_code}, "
                            "which is no legal entity")
        run_code = account.erp_run_code()
        if run_code in runs:
            problems.append(f"paying accounts {runs[run_code]} and {account_id} share the run code {run_code!r}: "
                            "give one of them its own run_code")
        runs[run_code] = account_id
    return problems
