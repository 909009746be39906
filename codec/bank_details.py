"""AES-256-GCM payload codec for bank details (DESIGN invariant 9).

Why only some payloads: Temporal history, the Web UI's static summaries and details, and
`temporal workflow show` are how finance engineers see where an invoice stands. Encrypting
every payload would make all of that unreadable without a codec server. Bank details are
the secret that matters, so the codec encrypts exactly the payloads that carry one and lets
the rest (invoice keys, amounts, statuses, exception cases) through untouched.

A payload carries bank details when its data has:
- a JSON key that is, or ends in, a name from `canonical.supplier.SENSITIVE_FIELDS`
  (`iban`, `creditor_iban`, `creditorIban`, ...) with a string value; `"iban": null` alone
  is not a bank detail, but the `account_number` next to it is;
- the same inside a JSON string (escaped quotes), e.g. a raw message kept as text;
- an ISO 20022 account or agent element (`<IBAN>`, `<BIC>`, `<BICFI>`): payment files live
  in workflow state (invariant 3) and name every creditor's account; and a NACHA file, which
  names them by routing and account number (kept sealed in the treasury store);
- an IBAN-like token anywhere in its text (`canonical.masking.iban_tokens`), whatever the key:
  a statement key, a problem text or a failure message that quotes one.
Failure messages and stack traces are payloads too: the data converter moves them into the
failure's encoded attributes (`encode_common_attributes`), so the same test applies to them.
Errs on the side of encrypting: a false match only costs readability, a miss leaks.
Not detected: bank details inside base64 or other opaque bytes; don't put them there.
"""

import base64
import binascii
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from canonical.masking import iban_tokens
from canonical.supplier import SENSITIVE_FIELDS
from codec.failures import BoundedFailureConverter

if TYPE_CHECKING:
    from settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
_NONCE_BYTES = 12  # the GCM standard nonce; random per payload, never reused with a key
_TAG_BYTES = 16

_NAMES = b"|".join(re.escape(name.encode()) for name in SENSITIVE_FIELDS)
_BANK_DETAIL = re.compile(
    rb'\\?"\w*(?:' + _NAMES + rb')\\?"\s*:\s*\\?"'  # "iban": "NL.." / "creditor_iban": "NL.."
    # digests of accounts the bank refused (workflows/payment_leg.py): an unkeyed hash of an
    # IBAN can be brute-forced, so a payload carrying any is encrypted as the IBAN would be
    rb'|\\?"rejected_accounts\\?"\s*:\s*\[\s*\\?"'
    rb"|<(?:\w+:)?(?:IBAN|BIC|BICFI)>"  # pain.001 / camt creditor and debtor accounts
    # a NACHA file (its file header first): every entry names a payee's routing and account number
    rb"|\A101[ 0-9]{20}",
    re.IGNORECASE,
)


class CodecKeyError(ValueError):
    """The payload encryption key is missing or malformed."""


class CodecKeyMissing(CodecKeyError):
    pass


def carries_bank_details(data: bytes) -> bool:
    return _BANK_DETAIL.search(data) is not None or bool(iban_tokens(data.decode("utf-8", "replace")))


class BankDetailsCodec(PayloadCodec):
    """Encrypts with the active key; decrypts with any configured key, so a rotated-out key
    still reads the histories it wrote."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str):
        if active_key_id not in keys:
            raise CodecKeyError(f"active key id {active_key_id!r} is not among the configured keys {sorted(keys)}")
        for key_id, key in keys.items():
            if len(key) != 32:
                raise CodecKeyError(f"key {key_id!r} has {len(key)} bytes; AES-256 needs 32")
        self.active_key_id = active_key_id
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._encrypt(p) if self._needs_encryption(p) else p for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) if p.metadata.get("encoding") == ENCODING else p for p in payloads]

    @staticmethod
    def _needs_encryption(payload: Payload) -> bool:
        return payload.metadata.get("encoding") != ENCODING and carries_bank_details(payload.data)

    def _encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(_NONCE_BYTES)
        # The whole payload, metadata included, so decode restores its original encoding.
        sealed = self._ciphers[self.active_key_id].encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: self.active_key_id.encode()},
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise ValueError(
                f"payload is encrypted with key id {key_id!r}, which this codec does not have "
                f"(configured: {sorted(self._ciphers)}); configure that key to read this history"
            )
        if len(payload.data) < _NONCE_BYTES + _TAG_BYTES:
            raise ValueError(f"encrypted payload (key id {key_id!r}) is too short to be valid")
        nonce, sealed = payload.data[:_NONCE_BYTES], payload.data[_NONCE_BYTES:]
        try:
            return Payload.FromString(cipher.decrypt(nonce, sealed, None))
        except InvalidTag:
            raise ValueError(
                f"payload could not be decrypted with key id {key_id!r}: the key behind that id "
                "is not the one that encrypted it, or the payload was altered"
            ) from None


def _parse_key(text: str, source: str) -> bytes:
    # Never echo the key material in an error: these messages end up in logs.
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error:
        raise CodecKeyError(f"{source} is not valid base64") from None
    if len(key) != 32:
        raise CodecKeyError(f"{source} decodes to {len(key)} bytes; AES-256 needs 32")
    return key


def _read_key_file(path: Path, variable: str = "FINSYNC_CODEC_KEY_FILE") -> str:
    """The key file's text, or a CodecKeyError saying what is wrong with the file (never its
    content): a worker that can not read its key must say so, not die on a bare OSError."""
    source = f"{variable} ({path})"
    if path == Path(""):  # FINSYNC_CODEC_KEY_FILE= (set but empty) arrives as Path(".")
        raise CodecKeyError(f"{variable} is set but names no file: set it to the file's path, or unset it")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CodecKeyError(f"{source} does not exist: restore the key file (a new key can not read the "
                            "bank details already in workflow histories)") from None
    except IsADirectoryError:
        raise CodecKeyError(f"{source} is a directory, not a key file") from None
    except PermissionError:
        raise CodecKeyError(f"{source} can not be read by this process (permission denied)") from None
    except UnicodeDecodeError:
        raise CodecKeyError(f"{source} is not text: it must hold the base64 of the key, not the raw bytes") from None
    except OSError as err:
        raise CodecKeyError(f"{source} can not be read: {err.strerror or err}") from None
    if not text.strip() and variable in ("FINSYNC_CODEC_KEY_FILE", "FINSYNC_INTAKE_CODEC_KEY_FILE"):
        raise CodecKeyError(f"{source} is empty: it must hold the base64 of 32 random bytes")
    return text


def load_codec(settings: "Settings") -> BankDetailsCodec:
    if settings.codec_key is not None and settings.codec_key_file is not None:
        # Two sources could disagree; one encrypting with the other's id would make
        # history unreadable, so refuse to guess.
        raise CodecKeyError("set FINSYNC_CODEC_KEY or FINSYNC_CODEC_KEY_FILE, not both")
    if settings.codec_key is not None:
        key = _parse_key(settings.codec_key.get_secret_value(), "FINSYNC_CODEC_KEY")
    elif settings.codec_key_file is not None:
        key = _parse_key(_read_key_file(settings.codec_key_file), f"FINSYNC_CODEC_KEY_FILE ({settings.codec_key_file})")
    else:
        raise CodecKeyMissing(
            "no payload encryption key: set FINSYNC_CODEC_KEY to the base64 of 32 random bytes, "
            "or FINSYNC_CODEC_KEY_FILE to a file holding it (e.g. `openssl rand -base64 32`). "
            "Bank details in workflow history are encrypted with it."
        )
    keys = read_only_keys(settings.codec_read_keys_file) if settings.codec_read_keys_file is not None else {}
    if keys.get(settings.codec_key_id, key) != key:
        raise CodecKeyError(f"key id {settings.codec_key_id!r} is both the active key and, with other key material, "
                            "in FINSYNC_CODEC_READ_KEYS_FILE: a key id must name one key forever")
    return BankDetailsCodec({**keys, settings.codec_key_id: key}, settings.codec_key_id)


def load_intake_codec(settings: "Settings") -> BankDetailsCodec:
    """Intake's own narrow key (least privilege): it encrypts what intake sends under its own key
    id and holds no other key, so the intake process can not read what workers wrote. Workers,
    clients and the codec server hold this key in FINSYNC_CODEC_READ_KEYS_FILE to read receipts."""
    if settings.intake_codec_key is not None and settings.intake_codec_key_file is not None:
        raise CodecKeyError("set FINSYNC_INTAKE_CODEC_KEY or FINSYNC_INTAKE_CODEC_KEY_FILE, not both")
    if settings.intake_codec_key is not None:
        key = _parse_key(settings.intake_codec_key.get_secret_value(), "FINSYNC_INTAKE_CODEC_KEY")
    elif settings.intake_codec_key_file is not None:
        variable = "FINSYNC_INTAKE_CODEC_KEY_FILE"
        key = _parse_key(_read_key_file(settings.intake_codec_key_file, variable),
                         f"{variable} ({settings.intake_codec_key_file})")
    else:
        raise CodecKeyMissing("no intake payload key: set FINSYNC_INTAKE_CODEC_KEY_FILE to a file holding the base64 "
                              "of 32 random bytes, and add it to the workers' FINSYNC_CODEC_READ_KEYS_FILE as "
                              f"'{settings.intake_codec_key_id} <key>' (deploy/README.md, \"E-invoice intake\")")
    if settings.intake_codec_key_id == settings.codec_key_id:
        raise CodecKeyError(f"FINSYNC_INTAKE_CODEC_KEY_ID is {settings.intake_codec_key_id!r}, the workers' own "
                            "key id: intake's key needs an id of its own")
    return BankDetailsCodec({settings.intake_codec_key_id: key}, settings.intake_codec_key_id)


def read_only_keys(path: Path) -> dict[str, bytes]:
    """Keys that decrypt but never encrypt (key rotation: docs/architecture.md invariant 9):
    one `<key id> <base64 key>` per line, `#` comments. Holds the retired keys, whose histories
    must stay readable, and, while a rotation rolls out, the next key before it becomes active."""
    keys: dict[str, bytes] = {}
    variable = "FINSYNC_CODEC_READ_KEYS_FILE"
    for number, line in enumerate(_read_key_file(path, variable).splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{variable} ({path}) line {number}"
        if len(words) != 2:
            raise CodecKeyError(f"{where}: expected '<key id> <base64 key>'")
        key_id, text = words
        if key_id in keys:
            raise CodecKeyError(f"{where}: key id {key_id!r} appears twice")
        keys[key_id] = _parse_key(text, where)
    return keys


def generate_key_file(path: Path) -> None:
    """Create a new base64 key file readable only by its owner; leave an existing one alone
    (a new key would make existing histories unreadable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.fchmod(fd, 0o600)  # whatever the umask
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(AESGCM.generate_key(bit_length=256)).decode() + "\n")


def data_converter(codec: PayloadCodec) -> DataConverter:
    """The one converter of the worker and every client. Failures carry their message and
    stack trace in an encoded-attributes payload (history shows "Encoded failure"), so the
    codec sees them like any other payload and encrypts one that quotes an account; the SDK,
    the codec server and so the Web UI decode them back. Bounded in size, so a retrying
    activity's last failure is kept by the server (codec/failures.py)."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec,
                               failure_converter_class=BoundedFailureConverter)
