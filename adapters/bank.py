"""Bank adapter (mock-bank 0.9.0 over HTTP): submit pain.001 files, download the bank's messages,
ask for an intraday report. Only what a real bank connection offers (adapters/bank_channel.py);
what only the mock can answer is in tests/harness/bank.py.

Delivery is pull only. Each call is one HTTP exchange; there is no retry loop here, the
Temporal activity owns retries. Resending the same
file bytes is always safe: the bank refuses a repeated MsgId with DUPL, which
submit_payment_file turns into a receipt with duplicate=True (DESIGN invariants 2 and 3).
"""

import hashlib
import io
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
from lxml import etree
from pydantic import BaseModel

from adapters.bank_channel import NOT_CONFIGURED, BankChannel
from adapters.bank_errors import (
    BankError,
    BankOutcomeUnknown,
    BankRejectedFile,
    BankTransientError,
)
from adapters.http_client import HttpAdapter
from adapters.http_retry import retry_after_seconds
from canonical.bank import BankMessage, MessageKind
from telemetry.http import instrument

if TYPE_CHECKING:
    from settings import Settings

__all__ = [
    "BankClient", "BankError", "BankOutcomeUnknown", "BankRejectedFile", "BankTransientError",
    "SubmissionReceipt", "message_kind",
]

log = logging.getLogger(__name__)

DUPLICATE = "DUPL"


class SubmissionReceipt(BaseModel):
    """The bank has taken the file; its decision comes in the pain.002, never in this receipt.

    duplicate=True: the bank already knew this MsgId from an earlier attempt (a retry after
    a lost answer). That earlier attempt's pain.002 decides the outcome, and it may be a
    refusal: the bank burns a MsgId even when it refuses the file at the door (verified:
    reject-file FF01, then the same bytes once the debtor was fixed -> DUPL, nothing booked).
    So a duplicate receipt is not an acceptance, and BankRejectedFile must never be retried
    with the same bytes: a corrected file needs a new MsgId."""

    message_id: str
    duplicate: bool = False


# What a NACHA account's bank sends where an ISO 20022 account gets a pain.002, a pacs.004 and
# a camt.053 (mock-bank's type names; adapters/bank_documents.py reads the bodies).
TEXT_MESSAGE_KINDS = {"nacha.ack": MessageKind.STATUS_REPORT, "nacha.return": MessageKind.RETURN,
                      "bai2.statement": MessageKind.STATEMENT}


def message_kind(message_type: str) -> MessageKind | None:
    """MessageKind for a mailbox type such as "pain.002.001.10" (any version) or "nacha.ack";
    None for a type finsync does not read."""
    for kind in MessageKind:
        if message_type.startswith(kind.value):
            return kind
    return TEXT_MESSAGE_KINDS.get(message_type)


def message_identity(channel_id: object, body: str) -> str:
    """The channel's id, qualified by the message's own content. The channel's ids are only
    unique within one life of its numbering (mock-bank starts again at 1 after a reset; a bank
    migrating its platform may too), and a message that is read again (peeked, then collected)
    is the same bytes, so the pair names one message for good without asking the bank for
    anything it does not offer."""
    return f"{channel_id}:{hashlib.sha256(body.encode()).hexdigest()[:16]}"


def file_message_id(xml: bytes) -> str | None:
    # Only for the receipt when the bank's answer does not name the file; the builder made it.
    try:
        for _, node in etree.iterparse(io.BytesIO(xml), tag="{*}MsgId", resolve_entities=False, no_network=True):
            return node.text
    except etree.XMLSyntaxError:
        return None
    return None


class BankClient(HttpAdapter):
    counterpart = "bank"
    transient_error = BankTransientError
    outcome_unknown_error = BankOutcomeUnknown
    outcome_unknown_advice = "it may hold the file: resend the same bytes"

    def __init__(
        self,
        base_url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        channel: BankChannel = NOT_CONFIGURED,
    ):
        self._channel = channel
        # The mock is HTTP/1.0, one connection per request; keeping none open avoids
        # reusing a socket the server has already closed.
        self._http = instrument(httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Accept": "application/json", "Connection": "close"},
            auth=httpx.BasicAuth(user, password or "") if user else None,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_keepalive_connections=0),
            transport=transport,
        ))  # spans + traceparent when tracing is on (telemetry/http.py)

    @classmethod
    def from_settings(cls, s: "Settings") -> "BankClient":
        password = getattr(s, "bank_password", None)
        secret = getattr(password, "get_secret_value", None)  # a SecretStr
        return cls(
            getattr(s, "bank_url", "http://127.0.0.1:8090"),
            user=getattr(s, "bank_user", None),
            password=secret() if secret is not None else password,
            timeout=getattr(s, "bank_timeout_seconds", 60.0),
            channel=BankChannel(download=getattr(s, "bank_download_path", None),
                                report_request=getattr(s, "bank_report_request_path", None)),
        )

    # -- payment files ---------------------------------------------------------------------

    async def submit_payment_file(self, xml: bytes, content_type: str = "application/xml") -> SubmissionReceipt:
        """POST one pain.001, or a NACHA file as text/plain (bytes, so httpx sends Content-Length;
        the bank answers a chunked body with 411). 202: the bank has it. 422 DUPL: it already had
        it (not a refusal). Any other 422: BankRejectedFile. A lost answer: BankOutcomeUnknown."""
        response = await self._send(
            "POST", "/payments", content=bytes(xml), headers={"Content-Type": content_type}, write=True
        )
        answer = _json(response)
        message_id = str(answer.get("msg_id") or file_message_id(xml) or "")
        if response.status_code == 202:
            return SubmissionReceipt(message_id=message_id)
        if response.status_code == 422:
            reason = answer.get("reason")
            if reason == DUPLICATE:
                log.info("bank already holds payment file %s (DUPL)", message_id)
                return SubmissionReceipt(message_id=message_id, duplicate=True)
            findings = [_finding(f) for f in answer.get("findings") or []]
            raise BankRejectedFile(reason, findings or [answer.get("reason_text") or response.text[:500]], status=422)
        if response.status_code == 413:
            # Too big for the bank: the same bytes will never pass; the run must be split.
            raise BankRejectedFile(None, [f"HTTP 413: the file is too large ({len(xml)} bytes)"], status=413)
        self._raise_for_status(response)
        raise BankError(f"unexpected answer {response.status_code} to POST /payments", status=response.status_code)

    # -- the bank's download channel ----------------------------------------------------------

    async def peek_mailbox(self) -> list[BankMessage]:
        """Everything released and not collected, oldest id first; consumes nothing (and
        releases what has come due, as every read of the channel does)."""
        return await self._messages(f"{self._download()}?leave")

    async def collect_mailbox(self) -> list[BankMessage]:
        """The same list, consumed: return it from the activity so it lands in history
        before anything acts on it (DESIGN invariant 4)."""
        return await self._messages(self._download())

    def _download(self) -> str:
        if self._channel.download is None:
            raise BankError("no download service of the bank connection is configured: set "
                            "FINSYNC_BANK_DOWNLOAD_PATH (adapters/bank_channel.py)")
        return self._channel.download

    async def request_intraday_report(self, account_id: str) -> None:
        """Ask for an intraday report (camt.052) of one of our accounts now; it arrives through
        the download channel like any other message (EBICS C52 or a camt.060 request at a real
        bank; adapters/bank_channel.py)."""
        if self._channel.report_request is None:
            raise BankError("no intraday report request of the bank connection is configured "
                            "(FINSYNC_BANK_REPORT_REQUEST_PATH)")
        path = self._channel.report_request.format(account=quote(account_id, safe=""))
        response = await self._send("POST", path)
        self._raise_for_status(response)

    async def _messages(self, path: str) -> list[BankMessage]:
        messages = []
        for row in await self._get_json(path):
            kind = message_kind(str(row.get("type", "")))
            if kind is None:
                log.warning("bank message %s of type %s is not one finsync reads; left out",
                            row.get("id"), row.get("type"))
                continue
            messages.append(BankMessage(
                bank_message_id=message_identity(row["id"], row["body"]),
                kind=kind,
                account=row.get("account"),
                received_at=row.get("releasedAt"),
                body=row["body"],
            ))
        return messages

    # -- HTTP ------------------------------------------------------------------------------

    async def _get_json(self, path: str) -> Any:
        response = await self._send("GET", path)
        self._raise_for_status(response)
        return response.json()

    @staticmethod
    def _raise_for_status(response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        text = response.text[:300]
        if status == 429 or status >= 500:
            raise BankTransientError(
                f"bank answered {status}: {text}",
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
                status=status,
            )
        if status in (401, 403):
            raise BankError(f"bank refused the credentials ({status})", status=status)
        raise BankError(f"bank answered {status} to {response.request.method} {response.request.url.path}: {text}",
                        status=status)


def _finding(finding: Any) -> str:
    # The bank's findings are {"level", "path", "code", "text"}; one line each for a person.
    if isinstance(finding, dict):
        return " ".join(str(finding[k]) for k in ("code", "path") if finding.get(k)) + f": {finding.get('text', '')}"
    return str(finding)


def _json(response: httpx.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
