"""The identity provider this process trusts: its issuer name and public keys (a JWKS file from
the worker's configuration). Workflow validators read the keyring installed at start-up: a
validator does not run on replay, so a rotated key set never changes a recorded history."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import jwt


@dataclass(frozen=True)
class Keyring:
    issuer: str
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict)

    def key_for(self, key_id: str) -> jwt.PyJWK | None:
        return self.keys.get(key_id)

    @classmethod
    def from_jwks(cls, issuer: str, jwks: dict[str, object]) -> "Keyring":
        found = jwt.PyJWKSet.from_dict(jwks).keys
        if not all(k.key_id for k in found):
            raise ValueError("every key of the identity provider's JWKS needs a `kid`")
        return cls(issuer=issuer, keys={str(k.key_id): k for k in found})

    @classmethod
    def from_file(cls, issuer: str, path: Path) -> "Keyring":
        return cls.from_jwks(issuer, json.loads(path.read_text()))


class KeyringSlot:
    """The keyring a process trusts for one purpose, set once at start-up (worker.py, test
    fixtures) and read by workflow validators and activities."""

    def __init__(self) -> None:
        self._keyring: Keyring | None = None

    def install(self, keyring: Keyring | None) -> None:
        self._keyring = keyring

    def installed(self) -> Keyring | None:
        return self._keyring


_decisions = KeyringSlot()  # the identity provider's keys: decision tokens
install, installed = _decisions.install, _decisions.installed
