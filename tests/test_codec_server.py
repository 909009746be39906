"""The codec server decodes bank details only for a caller whose identity-provider token says
they may read them, answers what it can not read with a short 400, and logs who decoded."""

import base64
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from temporalio.api.common.v1 import Payload

from cli.processes import free_port
from codec.access import CodecAccess
from codec.bank_details import BankDetailsCodec
from codec.server import codec_app
from identity.dev_issuer import DEV_ISSUER, DevIssuer, ephemeral_dev_issuer
from identity.tokens import DECISION_AUDIENCE
from intake.server import running_server

KEY = os.urandom(32)
IBAN_PAYLOAD = Payload(metadata={"encoding": b"json/plain"}, data=b'{"iban": "NL14MOCK0000000002"}')
AUDIENCE = "finsync-codec"
UI = "http://127.0.0.1:8233"


def as_json(payloads: list[Payload]) -> dict:
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                          "data": base64.b64encode(p.data).decode()} for p in payloads]}


def access(issuer: DevIssuer, role_claim: str = "roles") -> CodecAccess:
    return CodecAccess(keyring=issuer.keyring(), audience=AUDIENCE, role_claim=role_claim,
                       decode_roles=frozenset({"finsync-decode"}), encode_roles=frozenset({"finsync-encode"}))


def token(issuer: DevIssuer, subject: str = "ops.olivia", **claims: object) -> str:
    """A token as the identity provider signs it; `claims` override or add (None drops one)."""
    now = datetime.now(UTC)
    body = {"iss": DEV_ISSUER, "aud": AUDIENCE, "sub": subject, "roles": list(issuer.roles_of(subject)),
            "jti": str(uuid.uuid4()), "iat": int(now.timestamp()), "exp": int((now + timedelta(hours=1)).timestamp())}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, issuer.key, algorithm="EdDSA",
                      headers={"kid": issuer.key_id})


@asynccontextmanager
async def codec_server(issuer: DevIssuer, key: bytes = KEY, role_claim: str = "roles") -> AsyncIterator[str]:
    app = codec_app(BankDetailsCodec({"k1": key}, "k1"), access(issuer, role_claim), ui_origins=[UI])
    async with running_server(app, free_port()) as url:
        yield url


async def post(url: str, path: str, body: dict | bytes, bearer: str | None) -> httpx.Response:
    headers = {"X-Namespace": "default", "Content-Type": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        return await http.post(path, content=content, headers=headers)


@pytest.fixture
async def encrypted() -> list[Payload]:
    return await BankDetailsCodec({"k1": KEY}, "k1").encode([IBAN_PAYLOAD])


async def test_a_reader_decodes_and_the_access_log_names_them(issuer, encrypted, caplog):
    caplog.set_level(logging.INFO, logger="finsync.codec.access")
    async with codec_server(issuer) as url:
        response = await post(url, "/decode", as_json(encrypted), token(issuer))
    assert response.status_code == 200
    [payload] = response.json()["payloads"]
    assert base64.b64decode(payload["data"]) == IBAN_PAYLOAD.data
    assert b"NL14MOCK" not in encrypted[0].data  # it really was encrypted
    [line] = [r.getMessage() for r in caplog.records if r.name == "finsync.codec.access"]
    assert line.startswith("decode by ops.olivia namespace=default payloads=1 key_ids=k1"), line


async def test_no_token_is_401(issuer, encrypted):
    async with codec_server(issuer) as url:
        missing = await post(url, "/decode", as_json(encrypted), None)
        async with httpx.AsyncClient(base_url=url) as http:  # another scheme is no bearer token
            basic = await http.post("/decode", json=as_json(encrypted), headers={"Authorization": "Basic b3BzOm9wcw=="})
    for response in (missing, basic):
        assert response.status_code == 401 and "NL14MOCK" not in response.text
        assert response.headers["www-authenticate"] == 'Bearer realm="finsync-codec"'  # no token, no error code
        assert "required" in response.json()["error"]


def _other_key_same_kid(issuer: DevIssuer) -> str:
    forger = ephemeral_dev_issuer()
    return token(DevIssuer(key=forger.key, key_id=issuer.key_id, directory=issuer.directory))


WRONG = {  # each a token of the right person with the role, wrong in one way
    "issuer": (lambda i: token(i, iss="https://login.example.com"), "not issued by"),
    "audience": (lambda i: token(i, aud=DECISION_AUDIENCE), "audience"),  # a decision token is not a codec token
    "signature": (_other_key_same_kid, "signature"),
    "unknown key": (lambda i: token(ephemeral_dev_issuer()), "signing key"),
    "expired": (lambda i: token(i, iat=int(datetime.now(UTC).timestamp()) - 7200,
                                exp=int(datetime.now(UTC).timestamp()) - 3600), "expired"),
    "no expiry": (lambda i: token(i, exp=None), "exp"),
    "not a JWT": (lambda i: "s3cret", "not a JWT"),
}


@pytest.mark.parametrize("wrong", WRONG)
async def test_a_token_that_proves_nothing_is_401(issuer, encrypted, wrong):
    make, reason = WRONG[wrong]
    async with codec_server(issuer) as url:
        response = await post(url, "/decode", as_json(encrypted), make(issuer))
    assert response.status_code == 401 and "NL14MOCK" not in response.text
    assert reason in response.json()["error"], response.json()
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_token_without_the_reader_role_is_403(issuer, encrypted, caplog):
    caplog.set_level(logging.INFO, logger="finsync.codec.access")
    async with codec_server(issuer) as url:
        approver = await post(url, "/decode", as_json(encrypted), token(issuer, "ap.bob"))
        no_roles = await post(url, "/decode", as_json(encrypted), token(issuer, roles=None))
    for response in (approver, no_roles):
        assert response.status_code == 403 and "NL14MOCK" not in response.text
        assert "finsync-decode" in response.json()["error"]
    assert any("decode refused (403) subject=ap.bob" in r.getMessage() for r in caplog.records)


async def test_the_role_claim_is_configurable_and_may_be_nested(issuer, encrypted):
    nested = token(issuer, roles=None, realm_access={"roles": ["finsync-decode"]})
    async with codec_server(issuer, role_claim="realm_access.roles") as url:
        assert (await post(url, "/decode", as_json(encrypted), nested)).status_code == 200
        assert (await post(url, "/decode", as_json(encrypted), token(issuer))).status_code == 403


async def test_encode_is_refused_for_the_reader_and_open_to_the_encoder_role(issuer):
    async with codec_server(issuer) as url:
        reader = await post(url, "/encode", as_json([IBAN_PAYLOAD]), token(issuer, "ops.olivia"))
        encoder = await post(url, "/encode", as_json([IBAN_PAYLOAD]), token(issuer, "ops.oscar"))
        assert reader.status_code == 403 and "finsync-encode" in reader.json()["error"]
        assert encoder.status_code == 200 and "NL14MOCK" not in encoder.text
        decoded = await post(url, "/decode", encoder.json(), token(issuer, "ops.olivia"))
    assert base64.b64decode(decoded.json()["payloads"][0]["data"]) == IBAN_PAYLOAD.data


async def test_wrong_key_does_not_decode(issuer, encrypted):
    async with codec_server(issuer, key=os.urandom(32)) as url:
        response = await post(url, "/decode", as_json(encrypted), token(issuer))
    assert response.status_code == 400 and "NL14MOCK" not in response.text


MALFORMED = {
    "not JSON": b"payloads: [1]",
    "not UTF-8": b"\xff\xfe{\x00",
    "empty": b"",
    "a list": b'[{"data": "YQ=="}]',
    "payloads not a list": b'{"payloads": "YQ=="}',
    "payload not an object": b'{"payloads": [5]}',
    "bad base64 data": b'{"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "!!not base64!!"}]}',
    "bad base64 metadata": b'{"payloads": [{"metadata": {"encoding": "json plain!"}, "data": "YQ=="}]}',
    "metadata not an object": b'{"payloads": [{"metadata": ["x"], "data": "YQ=="}]}',
    "data not a string": b'{"payloads": [{"data": 5}]}',
    "unknown field": b'{"payloads": [{"data": "YQ==", "iban": "NL14"}]}',
    "deeply nested": b'{"payloads": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


async def test_malformed_bodies_are_400_with_a_short_reason(issuer):
    bearer = token(issuer)
    async with codec_server(issuer) as url:
        for name, body in MALFORMED.items():
            response = await post(url, "/decode", body, bearer)
            assert response.status_code == 400, (name, response.status_code, response.text)
            assert 0 < len(response.json()["error"]) < 200, (name, response.text)
        # A malformed body from someone without a token learns nothing about its shape.
        assert (await post(url, "/decode", MALFORMED["not JSON"], None)).status_code == 401
        # Protojson omits an empty repeated field: {} is zero payloads, not an error.
        assert (await post(url, "/decode", {}, bearer)).json() == {}


async def test_the_web_uis_preflight_allows_its_headers(issuer):
    """A signed-in Web UI sends the access token and the id token (Authorization-Extras)."""
    async with codec_server(issuer) as url, httpx.AsyncClient(base_url=url) as http:
        preflight = await http.options("/decode", headers={
            "Origin": UI, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,authorization-extras,content-type,x-namespace"})
        stranger = await http.options("/decode", headers={"Origin": "http://evil.example",
                                                          "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == UI
    assert stranger.status_code == 400
