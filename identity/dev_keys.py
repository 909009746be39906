"""Signing keys of the development stand-ins (the decision issuer, the AP platform): one Ed25519
key per state directory, created once with mode 0600, and its public JWKS. Never production's."""

import json
import os
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def signing_key(key_path: Path) -> Ed25519PrivateKey:
    """The key in `key_path`, created if missing. Two processes creating it at once (the worker
    and `up`) agree: the first file stands, the other reads it."""
    key_path.parent.mkdir(parents=True, exist_ok=True)
    if not key_path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            fd = None
        if fd is not None:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def thumbprint(key: Ed25519PrivateKey) -> str:
    """A short id of the public key, for the JWT `kid`."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()[:12]


def public_jwks(key: Ed25519PrivateKey, key_id: str) -> dict[str, object]:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": key_id, "use": "sig", "alg": "EdDSA"}]}
