"""A loopback TCP relay in front of a mock, which says when a request has reached it in full.

Killing a worker "while SAP posts the statement" needs to know the POST left the worker:
finsync's register says "pending" a few milliseconds before the request is sent, and SAP's
request log only shows a request once it is answered. The relay sees the bytes go through."""

import asyncio
import re
from contextlib import asynccontextmanager

_HEADERS_END = b"\r\n\r\n"


class TcpTap:
    def __init__(self, target_port: int, request_line: bytes) -> None:
        self._target_port, self._request_line = target_port, request_line
        self.forwarded = asyncio.Event()  # a whole request starting with `request_line` went through
        self.port = 0

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        await asyncio.gather(self._pipe(reader, up_writer, watch=True), self._pipe(up_reader, writer, watch=False),
                             return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, watch: bool) -> None:
        seen, expected = b"", None
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
                if watch and not self.forwarded.is_set():
                    seen += chunk
                    if expected is None and _HEADERS_END in seen and seen.startswith(self._request_line):
                        head = seen.split(_HEADERS_END, 1)[0]
                        match = re.search(rb"(?i)content-length:\s*(\d+)", head)
                        expected = len(head) + len(_HEADERS_END) + int(match.group(1) if match else 0)
                    if expected is not None and len(seen) >= expected:
                        self.forwarded.set()
        finally:
            writer.close()


@asynccontextmanager
async def tapped(url: str, request_line: bytes):
    """(tap, URL through it) for the server at `url` (http://127.0.0.1:<port>)."""
    tap = TcpTap(int(url.rsplit(":", 1)[1]), request_line)
    server = await asyncio.start_server(tap._relay, "127.0.0.1", 0)
    tap.port = server.sockets[0].getsockname()[1]
    try:
        yield tap, f"http://127.0.0.1:{tap.port}"
    finally:
        server.close()
