"""Bank details never sit in plain text in workflow history; everything else stays readable."""

import base64
import json
import os
import stat

import pytest
from temporalio.api.common.v1 import Payload

from canonical.supplier import Supplier, SupplierBankAccount
from codec.bank_details import (
    ENCODING,
    BankDetailsCodec,
    CodecKeyError,
    CodecKeyMissing,
    carries_bank_details,
    data_converter,
    generate_key_file,
    load_codec,
)
from settings import Settings

IBAN = "NL91ABNA0417164300"
OLD_KEY, NEW_KEY = os.urandom(32), os.urandom(32)


@pytest.fixture(autouse=True)
def _no_key_from_the_environment(monkeypatch):
    for name in ("FINSYNC_CODEC_KEY", "FINSYNC_CODEC_KEY_FILE", "FINSYNC_CODEC_KEY_ID"):
        monkeypatch.delenv(name, raising=False)


def json_payload(value) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


async def roundtrip(codec: BankDetailsCodec, payload: Payload) -> tuple[Payload, Payload]:
    [encoded] = await codec.encode([payload])
    [decoded] = await codec.decode([encoded])
    return encoded, decoded


async def test_iban_is_encrypted_and_round_trips():
    codec = BankDetailsCodec({"k1": NEW_KEY}, "k1")
    original = json_payload({"supplier_id": "100042", "iban": IBAN})
    encoded, decoded = await roundtrip(codec, original)
    assert encoded.metadata["encoding"] == ENCODING
    assert encoded.metadata["encryption-key-id"] == b"k1"
    assert IBAN.encode() not in encoded.data and b"100042" not in encoded.data
    assert decoded == original


async def test_payload_without_bank_details_passes_through():
    codec = BankDetailsCodec({"k1": NEW_KEY}, "k1")
    original = json_payload({"invoice_key": "1710-100042-INV1", "amount": "1050.10", "iban": None})
    [encoded] = await codec.encode([original])
    assert encoded == original
    assert await codec.decode([encoded]) == [original]


@pytest.mark.parametrize(
    "data",
    [
        b'{"creditor_iban": "NL91ABNA0417164300"}',
        b'{"creditorIban":"NL91ABNA0417164300"}',
        b'{"bic" : "ABNANL2A"}',
        b'{"raw": "{\\"iban\\": \\"NL91ABNA0417164300\\"}"}',
        b"<CdtrAcct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></CdtrAcct>",
        b"<CdtrAgt><FinInstnId><BICFI>ABNANL2A</BICFI></FinInstnId></CdtrAgt>",
    ],
)
def test_bank_detail_shapes_are_detected(data):
    assert carries_bank_details(data)


@pytest.mark.parametrize(
    "data",
    [b'{"iban": null}', b'{"masked_account": "0001 ****4300"}', b'{"note": "iban"}', b'"1710-100042-INV1"'],
)
def test_other_payloads_are_not_detected(data):
    assert not carries_bank_details(data)


async def test_wrong_key_fails_clearly():
    writer = BankDetailsCodec({"k1": NEW_KEY}, "k1")
    reader = BankDetailsCodec({"k1": OLD_KEY}, "k1")
    [encoded] = await writer.encode([json_payload({"iban": IBAN})])
    with pytest.raises(ValueError, match="could not be decrypted with key id 'k1'"):
        await reader.decode([encoded])


async def test_unknown_key_id_is_named():
    [encoded] = await BankDetailsCodec({"retired": OLD_KEY}, "retired").encode([json_payload({"iban": IBAN})])
    with pytest.raises(ValueError, match="key id 'retired'"):
        await BankDetailsCodec({"k2": NEW_KEY}, "k2").decode([encoded])


async def test_rotation_reads_old_histories_and_writes_with_the_new_key():
    original = json_payload({"iban": IBAN})
    [old] = await BankDetailsCodec({"k1": OLD_KEY}, "k1").encode([original])
    rotated = BankDetailsCodec({"k1": OLD_KEY, "k2": NEW_KEY}, "k2")
    assert await rotated.decode([old]) == [original]
    [new] = await rotated.encode([original])
    assert new.metadata["encryption-key-id"] == b"k2"


def test_keys_must_be_aes_256():
    with pytest.raises(CodecKeyError, match="32"):
        BankDetailsCodec({"k1": os.urandom(16)}, "k1")
    with pytest.raises(CodecKeyError, match="'k9'"):
        BankDetailsCodec({"k1": NEW_KEY}, "k9")


async def test_supplier_model_round_trips_through_the_data_converter():
    converter = data_converter(BankDetailsCodec({"k1": NEW_KEY}, "k1"))
    supplier = Supplier(
        supplier_id="100042", name="Bolt Supplies B.V.",
        bank_accounts=[SupplierBankAccount(bank_account_id="0001", country="NL", iban=IBAN, bic="ABNANL2A")],
    )
    [payload] = await converter.encode([supplier])
    assert payload.metadata["encoding"] == ENCODING
    assert IBAN.encode() not in payload.data
    assert await converter.decode([payload], [Supplier]) == [supplier]


async def test_account_number_without_iban_is_still_encrypted():
    converter = data_converter(BankDetailsCodec({"k1": NEW_KEY}, "k1"))
    account = SupplierBankAccount(bank_account_id="0001", country="US", iban=None, account_number="123456789")
    [payload] = await converter.encode([account])
    assert payload.metadata["encoding"] == ENCODING
    assert b"123456789" not in payload.data
    assert await converter.decode([payload], [SupplierBankAccount]) == [account]


def test_load_codec_from_key_or_key_file(tmp_path):
    key = base64.b64encode(NEW_KEY).decode()
    assert load_codec(Settings(codec_key=key)).active_key_id == "finsync-1"
    (tmp_path / "key").write_text(key + "\n")
    assert load_codec(Settings(codec_key_file=tmp_path / "key", codec_key_id="k7")).active_key_id == "k7"


def test_load_codec_without_key_explains_the_settings():
    with pytest.raises(CodecKeyMissing, match=r"FINSYNC_CODEC_KEY.*FINSYNC_CODEC_KEY_FILE"):
        load_codec(Settings(codec_key=None, codec_key_file=None))


def test_malformed_key_is_refused_without_echoing_it():
    with pytest.raises(CodecKeyError, match="16 bytes") as refused:
        load_codec(Settings(codec_key=base64.b64encode(b"x" * 16).decode()))
    assert "eHh4" not in str(refused.value)
    with pytest.raises(CodecKeyError, match="not valid base64"):
        load_codec(Settings(codec_key="not base64!"))


@pytest.mark.parametrize("problem, expected", [
    ("missing", "does not exist"), ("directory", "is a directory"), ("unreadable", "permission denied"),
    ("empty", "is empty"), ("binary", "not text"), ("no path", "names no file"),
])
def test_unusable_key_file_is_a_codec_key_error_naming_the_problem(tmp_path, monkeypatch, problem, expected):
    path = tmp_path / "codec.key"
    if problem == "directory":
        path.mkdir()
    elif problem == "unreadable":
        path.write_text(base64.b64encode(NEW_KEY).decode())
        path.chmod(0)
        if os.access(path, os.R_OK):  # root reads it anyway: let the read fail as it would for others

            def refuse(self, *args, **kwargs):
                raise PermissionError(13, "Permission denied", str(self))

            monkeypatch.setattr(type(path), "read_text", refuse)
    elif problem == "empty":
        path.write_text(" \n")
    elif problem == "binary":
        path.write_bytes(b"\xff\xfe" + NEW_KEY)
    elif problem == "no path":
        path = ""  # FINSYNC_CODEC_KEY_FILE= in the environment
    with pytest.raises(CodecKeyError, match=expected) as refused:
        load_codec(Settings(codec_key_file=path))
    # The message says it all: no OSError traceback chained to it.
    assert refused.value.__cause__ is None and (refused.value.__context__ is None or refused.value.__suppress_context__)


def test_empty_key_file_variable_is_refused(monkeypatch):
    monkeypatch.setenv("FINSYNC_CODEC_KEY_FILE", "")
    with pytest.raises(CodecKeyError, match="FINSYNC_CODEC_KEY_FILE is set but names no file"):
        load_codec(Settings())


def test_generate_key_file_is_private_and_never_replaced(tmp_path):
    path = tmp_path / "secrets" / "codec.key"
    generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    generate_key_file(path)
    assert path.read_text() == first
    assert load_codec(Settings(codec_key_file=path)).active_key_id == "finsync-1"
