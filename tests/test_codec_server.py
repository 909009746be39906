"""The codec server decodes bank details only for a permitted caller holding the right key."""

import base64
import json
import os

import httpx
import pytest
from temporalio.api.common.v1 import Payload

from codec.bank_details import BankDetailsCodec
from codec.server import codec_app

KEY = os.urandom(32)
IBAN_PAYLOAD = Payload(metadata={"encoding": b"json/plain"}, data=b'{"iban": "NL14MOCK0000000002"}')


def as_json(payloads: list[Payload]) -> dict:
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                          "data": base64.b64encode(p.data).decode()} for p in payloads]}


async def call(app, path: str, body: dict, token: str | None = "s3cret") -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "X-Namespace": "default"} if token else {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        return await http.post(path, content=json.dumps(body), headers=headers)


@pytest.fixture
async def encrypted() -> list[Payload]:
    return await BankDetailsCodec({"k1": KEY}, "k1").encode([IBAN_PAYLOAD])


async def test_right_key_and_token_decodes(encrypted):
    app = codec_app(BankDetailsCodec({"k1": KEY}, "k1"), token="s3cret", ui_origins=["http://127.0.0.1:8233"])
    response = await call(app, "/decode", as_json(encrypted))
    assert response.status_code == 200
    [payload] = response.json()["payloads"]
    assert base64.b64decode(payload["data"]) == IBAN_PAYLOAD.data
    assert b"NL14MOCK" not in encrypted[0].data  # it really was encrypted


async def test_wrong_key_does_not_decode(encrypted):
    app = codec_app(BankDetailsCodec({"k1": os.urandom(32)}, "k1"), token="s3cret", ui_origins=[])
    response = await call(app, "/decode", as_json(encrypted))
    assert response.status_code == 400 and "NL14MOCK" not in response.text


async def test_caller_without_the_token_is_refused(encrypted):
    app = codec_app(BankDetailsCodec({"k1": KEY}, "k1"), token="s3cret", ui_origins=[])
    assert (await call(app, "/decode", as_json(encrypted), token=None)).status_code == 403
    assert (await call(app, "/decode", as_json(encrypted), token="guess")).status_code == 403


async def test_encode_round_trip():
    app = codec_app(BankDetailsCodec({"k1": KEY}, "k1"), token=None, ui_origins=[])
    encoded = (await call(app, "/encode", as_json([IBAN_PAYLOAD]), token=None)).json()
    decoded = (await call(app, "/decode", encoded, token=None)).json()
    assert base64.b64decode(decoded["payloads"][0]["data"]) == IBAN_PAYLOAD.data
