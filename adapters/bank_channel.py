"""Where finsync's bank connection downloads the bank's messages and asks for a report.

A bank connection offers three services: upload a payment file (pain.001), download what the
bank sent (pain.002, camt.054, camt.053, camt.052, pacs.004: EBICS order types such as BTD/C53/C52,
or a bank API's message download), and ask for an intraday report now (camt.052: EBICS C52, or
a camt.060 account reporting request). The upload is `POST /payments`; the other two are the
connection's own paths, named in configuration only (FINSYNC_BANK_DOWNLOAD_PATH and
FINSYNC_BANK_REPORT_REQUEST_PATH, BankClient.from_settings): this module names none, so no
deployment talks to a mock's paths because nobody set them. The embedded stack and the tests
configure mock-bank's (tests/harness/bank.py MOCK_BANK_CHANNEL).

A paying account may instead bank through host-to-host directories (adapters/bank_file_drop.py):
its files are dropped into a directory, its answers picked up from another.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class BankChannel:
    # Released and not yet collected, oldest first; `?leave` peeks, without it the read consumes.
    # None: no download service configured (e.g. every account banks through directories).
    download: str | None
    # `{account}` is the bank's name for our account; the report arrives through `download`
    # (or the pickup directory). None: the connection offers no such request.
    report_request: str | None


NOT_CONFIGURED = BankChannel(download=None, report_request=None)
