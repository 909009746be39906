"""OData V2 `$batch` on the wire (multipart/mixed): many requests in one HTTP exchange.

Reads go as single parts: each is answered on its own. Writes go in one changeset: SAP applies
all of them or none (guides/mock-sap.md §10: a failing member rolls the changeset back and the
changeset answers with that one error part). The outer answer is 202 whatever the parts say,
so each part's status is read here and mapped by the caller."""

import json
import re
import uuid
from dataclasses import dataclass

CRLF = "\r\n"
_STATUS_LINE = re.compile(r"^HTTP/\d\.\d (\d{3})")


@dataclass(frozen=True)
class BatchRequest:
    method: str
    url: str  # relative to the service root, e.g. "A_SupplierInvoice(...)?$select=..."
    body: dict | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BatchAnswer:
    status: int
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body) if self.body.strip() else {}


def _request_part(request: BatchRequest) -> str:
    lines = [f"{request.method} {request.url} HTTP/1.1", "Accept: application/json"]
    lines += [f"{name}: {value}" for name, value in request.headers]
    data = ""
    if request.body is not None:
        data = json.dumps(request.body)
        lines += ["Content-Type: application/json", f"Content-Length: {len(data.encode())}"]
    return ("Content-Type: application/http" + CRLF + "Content-Transfer-Encoding: binary" + CRLF + CRLF
            + CRLF.join(lines) + CRLF + CRLF + data + CRLF)


def encode_batch(reads: list[BatchRequest], changeset: list[BatchRequest] | None = None) -> tuple[str, bytes]:
    """(Content-Type header, body) of one `$batch`: `reads` as single parts, then `changeset`."""
    boundary = f"batch_{uuid.uuid4().hex}"
    parts = [f"--{boundary}{CRLF}{_request_part(r)}" for r in reads]
    if changeset:
        inner = f"changeset_{uuid.uuid4().hex}"
        members = "".join(f"--{inner}{CRLF}{_request_part(r)}" for r in changeset)
        parts.append(f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary={inner}{CRLF}{CRLF}"
                     f"{members}--{inner}--{CRLF}")
    return f"multipart/mixed; boundary={boundary}", ("".join(parts) + f"--{boundary}--{CRLF}").encode()


def _boundary(content_type: str) -> str | None:
    match = re.search(r'boundary="?([^";]+)"?', content_type, re.IGNORECASE)
    return match.group(1) if match else None


def _split(body: bytes, boundary: str) -> list[bytes]:
    marker = b"--" + boundary.encode()
    chunks = body.split(marker)[1:]  # before the first marker: preamble
    return [c.strip(b"\r\n") for c in chunks if not c.startswith(b"--")]


def _headers_and_rest(chunk: bytes) -> tuple[dict[str, str], bytes]:
    head, _, rest = chunk.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if value:
            headers[name.strip().lower()] = value.strip()
    return headers, rest


def _answer(http: bytes) -> BatchAnswer:
    status_line, _, rest = http.lstrip(b"\r\n").partition(b"\r\n")
    match = _STATUS_LINE.match(status_line.decode("latin-1"))
    if not match:
        raise ValueError(f"not an HTTP answer in the $batch response: {status_line[:80]!r}")
    _, body = _headers_and_rest(rest)
    return BatchAnswer(int(match.group(1)), body)


def decode_batch(content_type: str, body: bytes) -> list[list[BatchAnswer]]:
    """One list per top-level part, in order: a single read gives one answer; a changeset
    gives one per member on success, or ONE error answer when it was rolled back."""
    boundary = _boundary(content_type)
    if not boundary:
        raise ValueError(f"$batch answer without a multipart boundary: {content_type!r}")
    answers = []
    for chunk in _split(body, boundary):
        headers, rest = _headers_and_rest(chunk)
        inner = _boundary(headers.get("content-type", ""))
        if inner:
            answers.append([_answer(_headers_and_rest(member)[1]) for member in _split(rest, inner)])
        else:
            answers.append([_answer(rest)])
    return answers
