"""The embedded stack's accounts that its mocks' seeds lack (demo tooling, never the worker's path):
ours at mock-bank, one per configured paying account it does not hold (the sample's ACMEUS, a
NACHA account for company code 1010, and ACMEDE, company code 2710's, with the IBAN the Tryton
seed gives 2710's statement journal), and a US bank account in mock-sap for the 1010 sample's
supplier (README, "US suppliers: NACHA files"). The paying accounts and company codes themselves
come from the settings (the legal entities' sample, canonical/entities.py): nothing is set here."""

from collections.abc import Mapping

import httpx

from canonical.bank import PayingAccount

OPENING_BALANCE = 10_000_000  # minor units: enough for every sample run of a long-lived stack

# mock-sap's US suppliers carry the German bank number 37040044, no ABA routing number, so they
# are a master-data case; the sample gives Quantum Components a second, US account that a NACHA
# account can pay (021000021 has a valid ABA check digit). The 1010 sample invoice names it.
US_SUPPLIER, US_BANK_ACCOUNT = "1000010", "0002"
US_ROUTING, US_ACCOUNT_NUMBER = "021000021", "4402719301"
_BP = "/sap/opu/odata/sap/API_BUSINESS_PARTNER_SRV"


def at_the_bank(account: PayingAccount) -> dict:
    """mock-bank's account record for one of ours (its `POST /_mock/accounts` body)."""
    body = {"id": account.account_id, "name": account.name, "iban": account.iban, "currency": account.currency,
            "balance": OPENING_BALANCE}
    if account.bank_format == "nacha":  # mock-bank's default is ISO 20022
        body["format"] = "nacha"
    if account.bic:
        body["bic"] = account.bic
    if account.account_number:
        body["account_number"] = account.account_number
    return body


async def ensure_bank_accounts(bank_url: str, accounts: Mapping[str, PayingAccount]) -> list[str]:
    """Create at mock-bank each paying account it does not hold; the ids created now (none when
    a bank kept in --db has them all already)."""
    created = []
    async with httpx.AsyncClient(base_url=bank_url, timeout=10) as http:
        for account_id in sorted(accounts):
            if (await http.get(f"/_mock/accounts/{account_id}")).status_code == 200:
                continue
            (await http.post("/_mock/accounts", json=at_the_bank(accounts[account_id]))).raise_for_status()
            created.append(account_id)
    return created


async def ensure_us_supplier_account(sap_url: str) -> bool:
    """Give the US sample supplier its US account in mock-sap (as SAP keeps one: country US, the
    routing number as bank number, no IBAN). True if it was added now."""
    return await ensure_supplier_bank_account(sap_url, US_SUPPLIER, US_BANK_ACCOUNT, {
        "BankCountryKey": "US", "BankNumber": US_ROUTING, "BankAccount": US_ACCOUNT_NUMBER})


async def ensure_supplier_bank_account(sap_url: str, supplier: str, account_id: str, fields: dict[str, str]) -> bool:
    """Add a bank account to a supplier in mock-sap unless it has one with this id; True if added now."""
    key = f"A_BusinessPartnerBank(BusinessPartner='{supplier}',BankIdentification='{account_id}')"
    async with httpx.AsyncClient(base_url=sap_url, timeout=30, headers={"Accept": "application/json"}) as http:
        found = await http.get(f"{_BP}/{key}", params={"$format": "json"})
        if found.status_code != 404:
            found.raise_for_status()
            return False
        # OData writes need a CSRF token, fetched on the service root (same client: its cookie).
        token = (await http.get(f"{_BP}/", headers={"X-CSRF-Token": "Fetch"})).headers.get("x-csrf-token", "")
        created = await http.post(f"{_BP}/A_BusinessPartnerBank", headers={"X-CSRF-Token": token}, json={
            "BusinessPartner": supplier, "BankIdentification": account_id, **fields})
        created.raise_for_status()
    return True
