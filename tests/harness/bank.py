"""mock-bank's inspection paths, for tests and benchmarks: no real bank answers them.

The production BankClient (adapters/bank.py) has no way to list messages it already collected,
to read the bank's payment book or to learn that the bank was reset. What it does instead:
a message lost between collecting and recording is recovered from the bank's own reports (the
silent-bank timer asks for a camt.052 and waits for the camt.053, activities/bank_evidence.py);
a payment paid twice shows as two bookings in the camt.054/camt.053 (activities/drift_checks.py);
channel ids are qualified by content, not by the bank's epoch.
"""

from typing import Any
from urllib.parse import quote

from adapters.bank import BankClient
from adapters.bank_channel import BankChannel
from canonical.bank import BankMessage
from cli.processes import MOCK_BANK_DOWNLOAD_PATH, MOCK_BANK_REPORT_REQUEST_PATH

# mock-bank's download channel and report request, as the tests configure them (conftest.py
# sets the environment from cli/processes.py for every worker they start).
MOCK_BANK_CHANNEL = BankChannel(download=MOCK_BANK_DOWNLOAD_PATH, report_request=MOCK_BANK_REPORT_REQUEST_PATH)


class HarnessBankClient(BankClient):
    """BankClient plus what only mock-bank can tell a test."""

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        kwargs.setdefault("channel", MOCK_BANK_CHANNEL)
        super().__init__(base_url, **kwargs)

    async def released_messages(self) -> list[BankMessage]:
        """Everything released, collected or not (`GET /_mock/messages`). Releases nothing by
        itself, so peek first if due messages matter."""
        return await self._messages("/_mock/messages")

    async def payments_for(self, end_to_end_id: str) -> list[dict]:
        """The bank's own record of every payment with this EndToEndId, newest first; [] if
        none. The bank pays a repeated EndToEndId in a new file again: this shows it."""
        response = await self._send("GET", f"/_mock/payments/{quote(end_to_end_id, safe='')}?all")
        if response.status_code == 404:
            return []
        self._raise_for_status(response)
        return list(response.json())

    async def payments_of_account(self, account_id: str) -> list[dict]:
        """Every payment the bank holds from one of our accounts (`GET /_mock/payments`)."""
        return [p for p in await self._get_json("/_mock/payments") if p.get("account_id") == account_id]
