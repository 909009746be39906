"""The codec server as `make up` runs it: its own process, trusting the stack's local issuer,
refusing a caller without a token; the endpoint `make up` prints (a token in its path, since the
dev server's Web UI has no sign-in to forward) and `python -m cli codec-token` open it."""

import asyncio
import base64
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from cli.codec_token import web_ui_guide
from cli.processes import free_port
from codec.access import CodecAccess
from codec.bank_details import BankDetailsCodec, load_codec
from codec.server import codec_app
from intake.server import running_server
from settings import Settings
from tests.helpers import REPO, TEST_CODEC_KEY, run_module

IBAN_PAYLOAD = Payload(metadata={"encoding": b"json/plain"}, data=b'{"iban": "NL14MOCK0000000002"}')


def as_json(payloads: list[Payload]) -> dict:
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                          "data": base64.b64encode(p.data).decode()} for p in payloads]}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "FINSYNC_"))}
    return {**env, "FINSYNC_CODEC_KEY": TEST_CODEC_KEY, **extra}


def codec_token(state: Path, *args: str) -> str:
    done = run_module("cli", "codec-token", *args, address="127.0.0.1:1", env={"FINSYNC_STATE_DIR": str(state)})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


async def test_the_stacks_codec_server_opens_only_to_the_printed_endpoint_and_cli_tokens(tmp_path):
    state, port = tmp_path / "state", free_port()
    guide = web_ui_guide(state, port)  # what `make up` prints; it creates the stack's issuer
    [endpoint] = re.findall(rf"http://127\.0\.0\.1:{port}/token/\S+", guide)
    assert f"FINSYNC_STATE_DIR={state} FINSYNC_CODEC_PORT={port} python -m cli codec-token --endpoint" in guide
    log = tmp_path / "codec-server.log"
    env = clean_env(FINSYNC_IDENTITY_DEV_DIR=str(state / "identity"), FINSYNC_CODEC_TOKEN_IN_PATH="true")
    with open(log, "wb") as out:  # as cli/stack.py starts it
        server = subprocess.Popen([sys.executable, "-m", "codec.server", "--port", str(port)], cwd=REPO, env=env,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        encrypted = await load_codec(Settings(codec_key=TEST_CODEC_KEY)).encode([IBAN_PAYLOAD])
        body = as_json(encrypted)
        async with httpx.AsyncClient(timeout=10) as http:
            for _ in range(200):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                await asyncio.sleep(0.05)
            base = f"http://127.0.0.1:{port}"
            nobody = await http.post(f"{base}/decode", json=body, headers={"X-Namespace": "default"})
            forged = await http.post(f"{base}/token/not.a.token/decode", json=body)
            printed = await http.post(f"{endpoint}/decode?preserveStorageRefs=true", json=body,
                                      headers={"X-Namespace": "default"})
            bearer = await http.post(f"{base}/decode", json=body,
                                     headers={"Authorization": f"Bearer {codec_token(state)}"})
            approver = await http.post(f"{base}/decode", json=body,
                                       headers={"Authorization": f"Bearer {codec_token(state, '--as', 'ap.bob')}"})
            encode = await http.post(f"{endpoint}/encode", json=as_json([IBAN_PAYLOAD]))
            # The Web UI's request from its page (UI 2.5x: POST <endpoint>/decode, JSON, X-Namespace).
            preflight = await http.options(f"{endpoint}/decode?preserveStorageRefs=true", headers={
                "Origin": "http://127.0.0.1:8233", "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace"})
    finally:
        server.terminate()
        server.wait(15)
    assert nobody.status_code == 401 and forged.status_code == 401 and approver.status_code == 403
    for response in (printed, bearer):
        assert response.status_code == 200, response.text
        assert base64.b64decode(response.json()["payloads"][0]["data"]) == IBAN_PAYLOAD.data
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    assert encode.status_code == 403  # the Web UI user reads; sending inputs needs the encoder's role
    assert "decode by ops.olivia namespace=default payloads=1 key_ids=finsync-1" in log.read_text()


async def test_tokens_in_the_path_only_where_enabled(issuer):
    access = CodecAccess(keyring=issuer.keyring(), audience="finsync-codec", role_claim="roles",
                         decode_roles=frozenset({"finsync-decode"}), encode_roles=frozenset({"finsync-encode"}))
    app = codec_app(BankDetailsCodec({"k1": os.urandom(32)}, "k1"), access, ui_origins=[])
    good = issuer.access_token("ops.olivia", audience="finsync-codec", now=datetime.now(UTC))
    async with running_server(app, free_port()) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.post(f"/token/{good}/decode", json={"payloads": []})).status_code == 404


def test_settings_keep_decoding_and_encoding_apart_and_path_tokens_out_of_production():
    with pytest.raises(ValueError, match="a role of its own"):
        Settings(codec_decode_roles="finsync-decode,ops", codec_encode_roles="ops")
    production = {"environment": "production", "treasury_db_url": "postgresql+psycopg://finsync@db/treasury"}
    with pytest.raises(ValueError, match="embedded stack only"):
        Settings(codec_token_in_path=True, **production)
    assert Settings(codec_decode_roles="a, b").codec_decode_roles == {"a", "b"}


def test_a_production_codec_server_without_the_identity_provider_does_not_start():
    done = subprocess.run([sys.executable, "-m", "codec.server", "--port", str(free_port())], cwd=REPO, timeout=60,
                          env=clean_env(FINSYNC_ENVIRONMENT="production",
                                        FINSYNC_TREASURY_DB_URL="postgresql+psycopg://finsync@db/treasury"),
                          capture_output=True, text=True)
    assert done.returncode != 0 and "FINSYNC_IDENTITY_JWKS_FILE" in done.stderr, done.stderr
