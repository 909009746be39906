"""What every counterpart client shares: one httpx client, closed once, usable as `async with`,
and one answer to "did the request reach them?" when the network fails.

That answer decides idempotency, so it lives here once: a connection that never opened sent
nothing (retry freely); a request that went out and got no answer may have been processed,
which for a write means "look it up (or resend the same bytes) before doing it again"."""

import logging
import time
from typing import Any, ClassVar, Self

import httpx

log = logging.getLogger(__name__)

# Failures before a byte left: the counterpart cannot have processed anything.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class HttpAdapter:
    _http: httpx.AsyncClient
    # Set by each client: its name in messages, and its own error types for the two cases.
    counterpart: ClassVar[str]
    transient_error: ClassVar[type[Exception]]
    outcome_unknown_error: ClassVar[type[Exception]]
    outcome_unknown_advice: ClassVar[str]  # what the caller does about a lost answer

    async def _send(self, method: str, path: str, *, write: bool = False, **kwargs: Any) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await self._http.request(method, path, **kwargs)
        except _NOT_SENT as exc:
            raise self.transient_error(
                f"{self.counterpart} not reachable for {method} {path}: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            if write:
                raise self.outcome_unknown_error(
                    f"{method} {path} was sent but {self.counterpart} gave no answer ({type(exc).__name__}); "
                    f"{self.outcome_unknown_advice}"
                ) from exc
            raise self.transient_error(
                f"{self.counterpart} gave no answer to {method} {path}: {type(exc).__name__}") from exc
        # Method, path and status only: headers carry credentials and CSRF tokens, bodies bank details.
        log.debug("%s %s %s -> %s in %.0f ms", self.counterpart, method, path, response.status_code,
                  (time.perf_counter() - started) * 1000)
        return response

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()
