"""What every counterpart client shares: one httpx client, closed once, usable as `async with`."""

from typing import Self

import httpx


class HttpAdapter:
    _http: httpx.AsyncClient

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()
