"""`python -m cli codec-token [--as ops.olivia] [--hours 8] [--endpoint]`: an access token for the
embedded stack's codec server, signed by its local issuer, as the company's identity provider
would give a signed-in user. The dev server's Web UI has no sign-in and can not forward a token,
so `--endpoint` prints a codec endpoint with the token in its path, to paste into the Web UI's
Codec Server settings (the stack's codec server accepts that: FINSYNC_CODEC_TOKEN_IN_PATH).
In production the identity provider issues the token; this command refuses there."""

import argparse
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cli import state
from cli.decision import identity_dev_dir
from identity.configured import IdentityNotConfigured, development_issuer
from identity.dev_issuer import DevIssuer, UnknownPerson, ensure_dev_issuer
from identity.people import BANK_DETAILS_READER, DEV_DIRECTORY

DEFAULT_READER = "ops.olivia"
DEFAULT_HOURS = 8.0  # a working day's session, like an identity provider's; then ask again
CODEC_PORT = ("FINSYNC_CODEC_PORT", 8234)  # as cli/stack.py's PORTS


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    readers = ", ".join(f"{who} ({'/'.join(roles)})" for who, roles in DEV_DIRECTORY.items()
                        if BANK_DETAILS_READER in roles)
    p = sub.add_parser("codec-token", help="print an access token for the embedded stack's codec server",
                       epilog=f"people who may read bank details: {readers}")
    p.add_argument("--as", dest="subject", default=DEFAULT_READER, help=f"who reads (default {DEFAULT_READER})")
    p.add_argument("--hours", type=float, default=DEFAULT_HOURS, help=f"lifetime (default {DEFAULT_HOURS:g})")
    p.add_argument("--endpoint", action="store_true",
                   help="print the Web UI's codec endpoint with the token in it instead of the token")


def endpoint(token: str, port: int | None = None) -> str:
    """The codec server's endpoint carrying `token` (the Web UI appends /decode and /encode)."""
    port = int(os.environ.get(CODEC_PORT[0], CODEC_PORT[1])) if port is None else port
    return f"http://127.0.0.1:{port}/token/{token}"


def issue(issuer: DevIssuer, subject: str, hours: float, now: datetime) -> str:
    from settings import Settings  # the audience the codec server checks (FINSYNC_CODEC_AUDIENCE)

    return issuer.access_token(subject, audience=Settings().codec_audience, now=now,
                               lifetime=timedelta(hours=hours))


def run(args: argparse.Namespace) -> int:
    if not 0 < args.hours <= 24:
        print("error: --hours must be more than 0 and at most 24", flush=True)
        return 2
    try:
        issuer = development_issuer(environment=os.environ.get("FINSYNC_ENVIRONMENT", "development"),
                                    dev_dir=identity_dev_dir())
        token = issue(issuer, args.subject, args.hours, datetime.now(UTC))
    except (IdentityNotConfigured, UnknownPerson) as err:
        print(f"error: {err}", flush=True)
        return 2
    print(endpoint(token) if args.endpoint else token)
    return 0


def web_ui_guide(state_dir: Path, port: int) -> str:
    """What `make up` prints: the codec server shows bank details only to a signed-in reader, and
    the dev server's Web UI has no sign-in whose token it could forward, so the local user pastes
    an endpoint carrying a short-lived token into the UI's Codec Server settings."""
    named = "" if state_dir == state.CHECKOUT / ".finsync" else f"FINSYNC_STATE_DIR={state_dir} "
    named += "" if port == CODEC_PORT[1] else f"{CODEC_PORT[0]}={port} "
    issuer = ensure_dev_issuer(state_dir / "identity")
    token = issue(issuer, DEFAULT_READER, DEFAULT_HOURS, datetime.now(UTC))
    return (f"\nBank details in the Web UI: the codec server decrypts them only for a signed-in reader, and\n"
            f"this Web UI has no sign-in to forward. Click the Codec Server icon (top bar), choose \"Use my\n"
            f"browser setting\", paste this endpoint ({DEFAULT_READER}'s token, {DEFAULT_HOURS:g} h) and Apply:\n"
            f"  {endpoint(token, port)}\n"
            f"  a fresh one: {named}python -m cli codec-token --endpoint\n"
            f"  the CLI: temporal workflow show --workflow-id <id> --codec-endpoint http://127.0.0.1:{port} \\\n"
            f"    --codec-auth \"Bearer $({named}python -m cli codec-token)\"")
