"""Where finsync's bank connection downloads the bank's messages and asks for a report.

A bank connection offers three services: upload a payment file (pain.001), download what the
bank sent (pain.002, camt.054, camt.053, camt.052, pacs.004: EBICS order types such as BTD/C53/C52,
or a bank API's message download), and ask for an intraday report now (camt.052: EBICS C52, or
a camt.060 account reporting request). mock-bank serves the upload at `POST /payments` and the
other two under its `/_mock` prefix (its routes/mailbox.py and routes/accounts.py), so their
paths are named here and nowhere else in production code. They are the bank's real services.

The mock's other `/_mock` paths are not: its list of everything ever released
(`/_mock/messages`), its state and epoch (`/_mock/state`), its payment book (`/_mock/payments`),
putting a message back (`/unread`). No real bank answers those, so only tests/harness/ calls
them (tests/test_production_paths.py checks). A connection to another bank names its own
services in FINSYNC_BANK_DOWNLOAD_PATH and FINSYNC_BANK_REPORT_REQUEST_PATH (BankClient.from_settings).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class BankChannel:
    # Released and not yet collected, oldest first; `?leave` peeks, without it the read consumes.
    download: str = "/_mock/mailbox"
    # `{account}` is the bank's name for our account; the report arrives through `download`.
    report_request: str = "/_mock/accounts/{account}/report"


MOCK_BANK = BankChannel()
