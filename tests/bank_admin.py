"""Direct calls to mock-bank for arranging tests and for its own record of payments (the
truth "never two payments for one invoice" is asserted against)."""

from datetime import date
from urllib.parse import quote

import httpx


async def reset(bank_url: str) -> None:
    async with httpx.AsyncClient(base_url=bank_url) as http:
        (await http.post("/_mock/reset")).raise_for_status()


async def create_account(bank_url: str, **fields) -> None:
    """A new account at the bank (POST /_mock/accounts); `fields` as the mock takes them."""
    async with httpx.AsyncClient(base_url=bank_url) as http:
        (await http.post("/_mock/accounts", json=fields)).raise_for_status()


async def set_account(bank_url: str, account_id: str, **fields) -> None:
    async with httpx.AsyncClient(base_url=bank_url) as http:
        (await http.patch(f"/_mock/accounts/{account_id}", json=fields)).raise_for_status()


async def advance(bank_url: str, days: int = 1) -> dict:
    async with httpx.AsyncClient(base_url=bank_url, timeout=60) as http:
        response = await http.post("/_mock/advance", params={"days": days})
    response.raise_for_status()
    return response.json()


async def payments_for(bank_url: str, end_to_end_id: str) -> list[dict]:
    async with httpx.AsyncClient(base_url=bank_url) as http:
        response = await http.get(f"/_mock/payments/{quote(end_to_end_id, safe='')}", params={"all": ""})
    if response.status_code == 404:
        return []
    response.raise_for_status()
    body = response.json()
    return body if isinstance(body, list) else body.get("payments", [body])


async def next_business_day(bank_url: str) -> date:
    """The bank's next business day after its today (its own calendar: weekends, holidays)."""
    async with httpx.AsyncClient(base_url=bank_url) as http:
        response = await http.get("/_mock/state")
    response.raise_for_status()
    return date.fromisoformat(response.json()["clock"]["nextBusinessDay"])
