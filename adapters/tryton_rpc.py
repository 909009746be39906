"""Tryton's JSON-RPC over HTTP (`POST /<database>/rpc/`), with its answers mapped to the ERP
port's errors (adapters/erp_errors.py). Plain async httpx, no proteus, no Temporal.

Each RPC call is one database transaction on the Tryton server: it commits whole or not at all,
so a call that answered with an error wrote nothing. Only a call whose answer was lost on the
way may have been applied (ErpOutcomeUnknown for writes: look it up before writing again).

A session comes from `common.db.login` and is sent as `Authorization: Session base64(login:
user id:token)`. An expired session is refused before anything runs (401/403), so it is renewed
once and the same call sent again.
"""

import asyncio
import base64
import datetime as dt
import json
import weakref
from decimal import Decimal
from typing import Any

import httpx

from adapters.erp_errors import ErpBusinessError, ErpError, ErpOutcomeUnknown, ErpTransientError
from adapters.http_client import HttpAdapter
from adapters.http_retry import retry_after_seconds
from telemetry.http import instrument

# Server texts that mean "busy, nothing done" (SQLite's lock outlasting Tryton's own retries).
_BUSY = ("database is locked", "could not serialize", "deadlock")

# One write at a time per Tryton database from this process (per event loop: a lock belongs to
# its loop). On SQLite Tryton does not lock its strict sequences (its SQLite backend's `lock` is a
# no-op), so two invoices posted at once were both numbered SI2710-2026-00001 (seen with two
# lifecycles posting together): a number names one invoice only if its posts never overlap.
# Reads still run side by side; on PostgreSQL Tryton locks the sequence itself and this costs
# only the overlap of one process's writes.
_WRITES: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]]" = \
    weakref.WeakKeyDictionary()


def _write_lock(database_url: str) -> asyncio.Lock:
    locks = _WRITES.setdefault(asyncio.get_running_loop(), {})
    return locks.setdefault(database_url, asyncio.Lock())


def _encode(value: Any) -> Any:
    """Tryton's JSON for what plain JSON lacks: money stays exact (architecture invariant 5)."""
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    raise TypeError(f"{type(value).__name__} is not JSON serializable for Tryton")


def _decode(obj: dict) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "datetime":
        return dt.datetime(obj["year"], obj["month"], obj["day"], obj.get("hour", 0), obj.get("minute", 0),
                           obj.get("second", 0), obj.get("microsecond", 0))
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


class TrytonRpcError(ErpBusinessError):
    """Tryton answered a call with an error; nothing of the call was committed."""


def error_of(method: str, error: Any) -> ErpError:
    """The port's error for Tryton's `error` member: `[kind, args]` for its own exceptions
    (UserError: message, description; UserWarning: name, message), `[text, traceback]` else."""
    kind, args = (error[0], error[1]) if isinstance(error, list | tuple) and len(error) == 2 else (str(error), "")
    if kind == "UserError":
        message, description = ([*list(args), "", ""])[:2]
        return TrytonRpcError(422, "TRYTON/USER_ERROR", f"{method}: {message} {description}".strip())
    if kind == "UserWarning":
        name, message = ([*list(args), "", ""])[:2]
        # Tryton asks a person to confirm (e.g. "a similar invoice exists"); finsync never
        # confirms on anyone's behalf, so the warning is a refusal a person looks at.
        return TrytonRpcError(409, f"TRYTON/WARNING/{str(name).split('.')[0][:40]}", f"{method}: {message}")
    if kind == "ConcurrencyException":
        return ErpTransientError(f"{method}: Tryton reports a concurrent change: {args}", status=409)
    if any(busy in str(kind).lower() for busy in _BUSY):
        return ErpTransientError(f"{method}: Tryton is busy ({kind})", status=503)
    return TrytonRpcError(500, "TRYTON/SERVER_ERROR", f"{method}: {kind}")


class TrytonRpc(HttpAdapter):
    counterpart = "Tryton"
    transient_error = ErpTransientError
    outcome_unknown_error = ErpOutcomeUnknown
    outcome_unknown_advice = "it may have been applied: look it up before writing again"

    def __init__(self, url: str, database: str, user: str, password: str, *, timeout: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._database_url = f"{url.rstrip('/')}/{database}"
        self._http = instrument(httpx.AsyncClient(
            base_url=self._database_url, timeout=httpx.Timeout(timeout), transport=transport))
        self._user, self._password = user, password
        self._authorization: str | None = None
        self._context: dict[str, Any] = {}
        self._user_id = 0
        self._requests = 0

    async def login(self) -> None:
        answer = await self._post("common.db.login", [self._user, {"password": self._password}, "en"],
                                  write=False, authorized=False)
        if not isinstance(answer, list) or len(answer) < 2:
            raise ErpBusinessError(403, "TRYTON/LOGIN", f"Tryton refused the login of {self._user!r}")
        self._user_id, token = int(answer[0]), str(answer[1])
        self._authorization = "Session " + base64.b64encode(
            f"{self._user}:{self._user_id}:{token}".encode()).decode()
        # The user's preferences are the context every call runs in (company, language).
        self._context = await self._post("model.res.user.get_preferences", [True, {}], write=False)

    @property
    def context(self) -> dict[str, Any]:
        return dict(self._context)

    async def call(self, method: str, *params: Any, write: bool = False, context: dict | None = None) -> Any:
        """`method` (e.g. "model.account.invoice.search_read") with `params`; the context goes last."""
        if self._authorization is None:
            await self.login()
        return await self._post(method, [*params, {**self._context, **(context or {})}], write=write)

    # -- the usual model calls -------------------------------------------------------------------
    async def search_read(self, model: str, domain: list, fields: list[str], *, order: list | None = None,
                          limit: int | None = None, context: dict | None = None) -> list[dict]:
        return await self.call(f"model.{model}.search_read", domain, 0, limit, order, fields, context=context)

    async def read(self, model: str, ids: list[int], fields: list[str], context: dict | None = None) -> list[dict]:
        return await self.call(f"model.{model}.read", ids, fields, context=context) if ids else []

    async def create(self, model: str, values: list[dict], context: dict | None = None) -> list[int]:
        return await self.call(f"model.{model}.create", values, write=True, context=context)

    async def write(self, model: str, ids: list[int], values: dict, context: dict | None = None) -> None:
        if ids:
            await self.call(f"model.{model}.write", ids, values, write=True, context=context)

    async def delete(self, model: str, ids: list[int], context: dict | None = None) -> None:
        if ids:
            await self.call(f"model.{model}.delete", ids, write=True, context=context)

    async def button(self, model: str, name: str, ids: list[int], context: dict | None = None) -> Any:
        """A model's button (a workflow transition such as `post`): one transaction."""
        return await self.call(f"model.{model}.{name}", ids, write=True, context=context) if ids else None

    async def wizard(self, name: str, model: str, ids: list[int], state: str = "start",
                     context: dict | None = None) -> None:
        """Run a wizard that needs no form (e.g. account.move.reconcile_lines on balanced lines)
        from `state` to its end, on the records `ids` of `model`."""
        session, _start, _end = await self.call(f"wizard.{name}.create", write=True)
        active = {"active_model": model, "active_id": ids[0], "active_ids": ids, **(context or {})}
        try:
            answer = await self.call(f"wizard.{name}.execute", session, {}, state, write=True, context=active)
            if isinstance(answer, dict) and answer.get("view"):
                raise TrytonRpcError(409, "TRYTON/WIZARD_FORM",
                                     f"wizard {name} asks for a form ({answer['view'].get('state')}): not applied")
        finally:
            await self.call(f"wizard.{name}.delete", session, write=True)

    # -- HTTP ---------------------------------------------------------------------------------------
    async def _post(self, method: str, params: list, *, write: bool, authorized: bool = True) -> Any:
        if not write:
            return await self._post_once(method, params, write=write, authorized=authorized)
        async with _write_lock(self._database_url):
            return await self._post_once(method, params, write=write, authorized=authorized)

    async def _post_once(self, method: str, params: list, *, write: bool, authorized: bool) -> Any:
        for attempt in (1, 2):
            self._requests += 1
            headers = {"Authorization": self._authorization} if authorized and self._authorization else {}
            body = json.dumps({"id": self._requests, "method": method, "params": params}, default=_encode)
            response = await self._send("POST", "/rpc/", write=write, content=body.encode(),
                                        headers={**headers, "Content-Type": "application/json"})
            if response.status_code in (401, 403) and authorized and attempt == 1:
                await self.login()  # refused before the call ran: renew the session, send it again
                params = [*params[:-1], {**self._context, **params[-1]}]
                continue
            return self._answer(method, response)
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(method: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status in (429, 502, 503, 504):
            # 504: Tryton's transaction timed out and was rolled back; the others never ran it.
            raise ErpTransientError(f"Tryton answered {status} to {method}", status=status,
                                    retry_after=retry_after_seconds(response.headers.get("retry-after")))
        if status in (401, 403):
            raise ErpBusinessError(status, "TRYTON/ACCESS", f"Tryton refused {method} ({status})")
        if status >= 400:
            raise TrytonRpcError(status, "TRYTON/HTTP", f"Tryton answered {status} to {method}: {response.text[:200]}")
        body = response.json(object_hook=_decode)
        if "error" in body and body["error"] is not None:
            raise error_of(method, body["error"])
        return body.get("result")
