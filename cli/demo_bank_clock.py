"""mock-bank's clock for the demo stack (`make up`): test-harness tooling, not a bank protocol.

A real bank's days pass on their own; mock-bank's pass when it is told (`/_mock/advance`), and its
date is read from its state (`/_mock/state`). `up` moves it a day at a time so the samples reach
COMPLETED, and keeps where it stood across restarts. The worker never calls any of this
(tests/test_production_paths.py).
"""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx


async def bank_state(bank_url: str) -> dict:
    async with httpx.AsyncClient(base_url=bank_url, timeout=10) as http:
        response = await http.get("/_mock/state")
    response.raise_for_status()
    return response.json()


async def bank_today(bank_url: str) -> date:
    return date.fromisoformat((await bank_state(bank_url))["clock"]["date"])


async def advance_bank_day(bank_url: str) -> dict:
    # Slow on a big day (the bank books and writes statements under one lock): guide §8.
    async with httpx.AsyncClient(base_url=bank_url, timeout=60) as http:
        response = await http.post("/_mock/advance", params={"days": 1})
    response.raise_for_status()
    return response.json()


def _clock_file(state_dir: Path) -> Path:
    return state_dir / "bank-clock"


def save_bank_clock(bank_url: str, state_dir: Path) -> None:
    """mock-bank keeps its payments and issued statements in --db but not its clock (guide §4).
    Restarted at real now, behind the days `up` advanced through, it would book a new payment
    on a day whose statement it already issued (it never issues one twice) and the ERP would
    never clear it. So `up` keeps the bank's time and starts it there again.
    Synchronous (one local GET): it also runs while `up` stops, where a second Ctrl-C must
    not cancel it halfway and skip stopping the processes."""
    response = httpx.get(f"{bank_url}/_mock/state", timeout=5)
    response.raise_for_status()
    now = response.json()["clock"]["now"]
    _clock_file(state_dir).write_text(now + "\n")


def bank_clock_arg(state_dir: Path) -> list[str]:
    """`--clock` for mock-bank: where it stood when `up` last stopped, if that is ahead of real
    time; otherwise nothing (real now)."""
    try:
        saved = datetime.fromisoformat(_clock_file(state_dir).read_text().strip()).astimezone(UTC)
    except (OSError, ValueError):
        return []
    if saved <= datetime.now(UTC) + timedelta(minutes=1):
        return []
    return ["--clock", saved.strftime("%Y-%m-%dT%H:%M")]  # mock-bank's zone is UTC unless --timezone
