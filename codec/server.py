"""Codec server: the worker's own codec behind the HTTP protocol the Temporal Web UI and CLI
speak (POST /decode and /encode with `{"payloads": [...]}` in protojson), so a permitted
operator reads the bank details in history while the history itself stays encrypted
(architecture invariant 9).

Permission is the signed-in user's token, which the Web UI forwards as `Authorization: Bearer`
(codec/access.py): /decode needs a reader's role, /encode (the UI encrypting inputs it sends) an
encoder's role, never the same one. Each answer is logged with the token's subject, the
namespace (the UI's X-Namespace; the request names no workflow), the number of payloads and
the key ids they were encrypted with.

    python -m codec.server --port 8234        # then: temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8234
"""

import argparse
import base64
import binascii
import json
import logging
import os
import sys

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from codec.access import AccessRefused, CodecAccess, bearer_token
from codec.bank_details import ENCODING, KEY_ID_METADATA, load_codec

log = logging.getLogger("finsync.codec.access")
MAX_BODY_BYTES = 16 * 1024 * 1024  # many times a history's largest payload (Temporal's blob limit is 2 MB)


class MalformedBody(ValueError):
    pass


def codec_app(codec: PayloadCodec, access: CodecAccess, ui_origins: list[str], *,
              token_in_path: bool = False) -> Starlette:
    async def transform(request: Request, decode: bool) -> Response:
        operation, namespace = ("decode" if decode else "encode"), request.headers.get("x-namespace", "-")
        token = request.path_params.get("token") or bearer_token(request.headers.get("authorization"))
        try:
            caller = access.authorize(token, decode=decode)
        except AccessRefused as refused:
            log.warning("%s refused (%d) subject=%s namespace=%s: %s", operation, refused.status,
                        refused.subject or "-", namespace, refused.reason)
            return _refusal(refused, token_given=token is not None)
        try:
            payloads = _payloads(await request.body())
            done = await (codec.decode(payloads) if decode else codec.encode(payloads))
        except ValueError as bad:  # MalformedBody, or a payload under a key this server does not hold
            log.warning("%s refused (400) subject=%s namespace=%s: %s", operation, caller.subject, namespace, bad)
            return JSONResponse({"error": str(bad)}, status_code=400)
        key_ids = sorted({key for p in (payloads if decode else done) if (key := _key_id(p))})
        log.info("%s by %s namespace=%s payloads=%d key_ids=%s token=%s", operation, caller.subject, namespace,
                 len(payloads), ",".join(key_ids) or "-", caller.token_id or "-")
        return Response(json_format.MessageToJson(Payloads(payloads=done)), media_type="application/json")

    async def decode(request: Request) -> Response:
        return await transform(request, decode=True)

    async def encode(request: Request) -> Response:
        return await transform(request, decode=False)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "UP"})

    routes = [Route("/decode", decode, methods=["POST"]), Route("/encode", encode, methods=["POST"]),
              Route("/health", health, methods=["GET"])]
    if token_in_path:  # the embedded stack's Web UI can not forward a token: it is part of the endpoint
        routes += [Route("/token/{token}/decode", decode, methods=["POST"]),
                   Route("/token/{token}/encode", encode, methods=["POST"])]
    return Starlette(
        routes=routes,
        # The Web UI calls from its own origin with the namespace header and, signed in, the user's
        # access token (and their id token as Authorization-Extras): a header not allowed here
        # would fail the browser's preflight before the request is sent.
        middleware=[Middleware(CORSMiddleware, allow_origins=ui_origins, allow_methods=["POST"],
                               allow_headers=["content-type", "x-namespace", "authorization", "authorization-extras"],
                               allow_credentials=True)],
    )


def _refusal(refused: AccessRefused, *, token_given: bool) -> Response:
    challenge = 'Bearer realm="finsync-codec"'  # RFC 6750: no error code when no token was given
    if refused.status == 403:
        challenge += ', error="insufficient_scope"'
    elif token_given:
        challenge += ', error="invalid_token"'
    return JSONResponse({"error": refused.reason}, status_code=refused.status,
                        headers={"WWW-Authenticate": challenge})


def _payloads(body: bytes) -> list[Payload]:
    """The request's payloads, or MalformedBody with a short reason (never the body itself)."""
    if len(body) > MAX_BODY_BYTES:
        raise MalformedBody(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedBody("the body is not JSON") from None
    # Protojson omits an empty repeated field: `{}` is zero payloads.
    if not isinstance(parsed, dict) or not isinstance(parsed.get("payloads", []), list):
        raise MalformedBody('the body is not {"payloads": [...]}')
    for i, payload in enumerate(parsed.get("payloads", [])):
        # protobuf's own parser is lenient with base64 (it dropped "!!" silently): check it here.
        if not isinstance(payload, dict) or not isinstance(payload.get("metadata", {}), dict):
            raise MalformedBody(f"payload {i} is not a Payload object")
        for name, value in payload.get("metadata", {}).items():
            _check_base64(value, f"payload {i} metadata {str(name)[:40]!r}")
        _check_base64(payload.get("data", ""), f"payload {i} data")
    try:
        return list(json_format.ParseDict(parsed, Payloads()).payloads)
    except (json_format.ParseError, RecursionError, TypeError, ValueError) as err:
        raise MalformedBody(f"a payload is malformed ({str(err)[:120]})") from None


def _check_base64(value: object, where: str) -> None:
    """Protojson bytes: standard or URL-safe base64, padding optional."""
    if isinstance(value, str):
        plain = value.replace("-", "+").replace("_", "/").rstrip("=")
        try:
            if len(plain) % 4 != 1:
                base64.b64decode(plain + "=" * (-len(plain) % 4), validate=True)
                return
        except binascii.Error:
            pass
    raise MalformedBody(f"{where} is not base64")


def _key_id(payload: Payload) -> str | None:
    if payload.metadata.get("encoding") != ENCODING:
        return None
    return payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")


def main() -> None:
    import uvicorn

    from identity.configured import IdentityNotConfigured
    from settings import get_settings, settings_problem

    parser = argparse.ArgumentParser(description="finsync codec server for the Temporal Web UI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8234)
    parser.add_argument("--ui-origin", action="append", default=None, help="Web UI origin allowed by CORS")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = get_settings()
        access = CodecAccess.from_settings(settings)
    except (IdentityNotConfigured, ValueError) as err:
        sys.exit(f"codec server: {settings_problem(err)}")
    if "FINSYNC_CODEC_SERVER_TOKEN" in os.environ:
        log.warning("FINSYNC_CODEC_SERVER_TOKEN is no longer read: callers need a token of %s for audience %s",
                    access.keyring.issuer, access.audience)
    origins = args.ui_origin or ["http://127.0.0.1:8233", "http://localhost:8233"]
    log.info("codec server on %s:%d: tokens of %s for audience %s; /decode needs %s, /encode needs %s%s",
             args.host, args.port, access.keyring.issuer, access.audience, "|".join(sorted(access.decode_roles)),
             "|".join(sorted(access.encode_roles)), "; tokens in the path accepted" if settings.codec_token_in_path
             else "")
    app = codec_app(load_codec(settings), access, origins, token_in_path=settings.codec_token_in_path)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
