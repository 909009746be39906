"""Codec server: the worker's own codec behind the HTTP protocol the Temporal Web UI and CLI
speak (POST /decode and /encode with `{"payloads": [...]}` in protojson), so a permitted
operator reads the bank details in history while the history itself stays encrypted.

Permission is a bearer token (FINSYNC_CODEC_SERVER_TOKEN): the Web UI sends the user's token
when configured to. Loopback by default; production puts it behind the same SSO as the UI.

    python -m codec.server --port 8234        # then: temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8234
"""

import argparse
import hmac

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from codec.bank_details import load_codec


def codec_app(codec: PayloadCodec, token: str | None, ui_origins: list[str]) -> Starlette:
    async def transform(request: Request, decode: bool) -> Response:
        if token is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "not permitted to read bank details"}, status_code=403)
        payloads = json_format.Parse(await request.body(), Payloads())
        try:
            done = await (codec.decode(payloads.payloads) if decode else codec.encode(payloads.payloads))
        except ValueError as e:  # a payload under a key this server does not hold
            return JSONResponse({"error": str(e)}, status_code=400)
        return Response(json_format.MessageToJson(Payloads(payloads=done)), media_type="application/json")

    async def decode(request: Request) -> Response:
        return await transform(request, decode=True)

    async def encode(request: Request) -> Response:
        return await transform(request, decode=False)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "UP"})

    return Starlette(
        routes=[Route("/decode", decode, methods=["POST"]), Route("/encode", encode, methods=["POST"]),
                Route("/health", health, methods=["GET"])],
        # The Web UI calls from its own origin, with the token and the namespace header.
        middleware=[Middleware(CORSMiddleware, allow_origins=ui_origins, allow_methods=["POST"],
                               allow_headers=["content-type", "x-namespace", "authorization"], allow_credentials=True)],
    )


def main() -> None:
    import uvicorn

    from settings import get_settings

    parser = argparse.ArgumentParser(description="finsync codec server for the Temporal Web UI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8234)
    parser.add_argument("--ui-origin", action="append", default=None, help="Web UI origin allowed by CORS")
    args = parser.parse_args()
    settings = get_settings()  # the token from FINSYNC_CODEC_SERVER_TOKEN, or its file in FINSYNC_SECRETS_DIR
    token = settings.codec_server_token.get_secret_value() if settings.codec_server_token else None
    origins = args.ui_origin or ["http://127.0.0.1:8233", "http://localhost:8233"]
    uvicorn.run(codec_app(load_codec(settings), token, origins), host=args.host, port=args.port,
                log_level="warning")


if __name__ == "__main__":
    main()
