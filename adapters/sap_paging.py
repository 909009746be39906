"""Reading a whole OData V2 answer from SAP. A gateway pages a large answer on its own: each
page but the last carries `__next`, an absolute link to the rest, and the last page of a
delta-enabled entity set carries `__delta`. mock-sap never pages this way; SAP Gateway does
(server-side paging), so every read that may be large goes through here, one loop for all."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from adapters.sap_errors import raise_for_sap_status

Send = Callable[..., Awaitable[httpx.Response]]  # SapClient._send: CSRF, errors and timing included


async def read_all(send: Send, path: str, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """Every row, in the gateway's order, and the last page's `__delta` link (None without one).
    Of a `__next` link only the path and query are followed, against our own SAP: a link that
    names another host (a misconfigured or forged answer) never receives our credentials. The
    link already carries the filter, so the first page's `params` are not sent again."""
    rows: list[dict[str, Any]] = []
    while True:
        response = await send("GET", path, params=params, headers=headers)
        raise_for_sap_status(response)
        body = response.json()["d"]
        rows += body["results"]
        if not body.get("__next"):
            return rows, body.get("__delta")
        path, params = httpx.URL(body["__next"]).raw_path.decode(), None
