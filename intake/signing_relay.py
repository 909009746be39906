"""The signing step of a sending access point that can not sign itself.

mock-einvoice 0.4.0 pushes a bare `POST` with the UBL and a Content-Type, no other header and no
way to add one (its `poster`), so it can not authenticate to intake. This relay stands in front
of intake for such a sender: it takes the push on loopback, signs it as its sender
(intake/signature.py) and forwards it, answering with intake's own status and body, so the
sender sees exactly what intake decided. The embedded stack (`make up`) and the tests point
mock-einvoice's `--buyer-url` here. A real access point signs its pushes itself; run the relay
only next to a sender on a network nobody else reaches.

    python -m intake.signing_relay --port 8301 --to http://127.0.0.1:8300/invoices \\
        --sender peppol-ap --senders-file .finsync/intake-senders
"""

import argparse
import logging
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from intake.signature import Senders, signed_headers

log = logging.getLogger("finsync.intake.relay")
_FORWARDED = ("content-type", "retry-after", "www-authenticate")


def create_relay(target_url: str, sender: str, secret: str, timeout: float = 30.0) -> Starlette:
    async def forward(request: Request) -> Response:
        body = await request.body()
        headers = {"Content-Type": request.headers.get("content-type", "application/xml"),
                   **signed_headers(sender, secret, body)}
        try:
            async with httpx.AsyncClient(timeout=timeout) as http:
                answer = await http.post(target_url, content=body, headers=headers)
        except httpx.HTTPError as err:
            log.warning("could not reach intake at %s: %s", target_url, type(err).__name__)
            return JSONResponse({"code": "UNAVAILABLE", "reason": "intake did not answer"}, status_code=502)
        return Response(answer.content, status_code=answer.status_code,
                        headers={k: v for k, v in answer.headers.items() if k.lower() in _FORWARDED})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/invoices", forward, methods=["POST"]), Route("/health", health, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description="sign e-invoice pushes for a sender that can not sign (HMAC-SHA256)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8301)
    parser.add_argument("--to", required=True, help="intake's push URL, e.g. http://127.0.0.1:8300/invoices")
    parser.add_argument("--sender", required=True, help="the sender id this relay signs as")
    parser.add_argument("--senders-file", type=Path, required=True,
                        help="a file with the line '<sender id> <secret>' (never the secret on the command line)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    secret = Senders.from_file(args.senders_file, "--senders-file").secret_of(args.sender)
    log.info("signing relay on http://%s:%d/invoices as %s, to %s", args.host, args.port, args.sender, args.to)
    uvicorn.run(create_relay(args.to, args.sender, secret), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
