"""The embedded stack's US entity: company code 1010 (ACME Americas Inc., USD) pays its US
suppliers from ACMEUS, a NACHA-format account at mock-bank (README, "US suppliers: NACHA
files"). mock-bank's seed has no such account, so the stack creates it through the mock's
account API; the worker is configured with it beside ACME, unless the environment already
names the paying accounts or company codes (then that configuration stands)."""

import json
import os

import httpx

from settings import DEFAULT_COMPANY_CODES, DEFAULT_PAYING_ACCOUNTS

US_COMPANY = {"company_code": "1010", "name": "ACME Americas Inc.", "country": "US", "currency": "USD"}
# ABA routing 999999992 is mock-bank's own; the account number is the NACHA company identification.
US_ACCOUNT = {"account_id": "ACMEUS", "name": "ACME Americas Inc.", "iban": "NL55MOCK0000001010",
              "company_code": "1010", "currency": "USD", "bank_format": "nacha", "routing_number": "999999992",
              "account_number": "1010000001"}
AT_THE_BANK = {"id": "ACMEUS", "name": "ACME Americas Inc.", "iban": "NL55MOCK0000001010", "currency": "USD",
               "balance": 10_000_000, "format": "nacha", "account_number": "1010000001"}


def sample_environment() -> dict[str, str]:
    env = {}
    if "FINSYNC_PAYING_ACCOUNTS" not in os.environ:
        accounts = {k: v.model_dump(mode="json") for k, v in DEFAULT_PAYING_ACCOUNTS.items()}
        env["FINSYNC_PAYING_ACCOUNTS"] = json.dumps({**accounts, "ACMEUS": US_ACCOUNT})
    if "FINSYNC_COMPANY_CODES" not in os.environ:
        codes = {k: v.model_dump(mode="json") for k, v in DEFAULT_COMPANY_CODES.items()}
        env["FINSYNC_COMPANY_CODES"] = json.dumps({**codes, "1010": US_COMPANY})
    return env


async def ensure_bank_accounts(bank_url: str) -> bool:
    """Create ACMEUS at mock-bank; False when it was there already (a bank kept in --db)."""
    async with httpx.AsyncClient(base_url=bank_url, timeout=10) as http:
        if (await http.get(f"/_mock/accounts/{AT_THE_BANK['id']}")).status_code == 200:
            return False
        (await http.post("/_mock/accounts", json=AT_THE_BANK)).raise_for_status()
        return True
