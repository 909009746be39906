"""The embedded stack's local identity provider, so a newcomer can take every decision from the
`temporal` CLI: `python -m cli decision approve --as ap.bob --workflow-id ...` prints an update
input carrying a token signed by a key kept under the stack's state directory. Its people and
roles are identity/people.py's DEV_DIRECTORY. Production never uses it (settings refuse)."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity.dev_keys import public_jwks, signing_key, thumbprint
from identity.keyring import Keyring
from identity.people import DEV_DIRECTORY
from identity.tokens import DECISION_AUDIENCE

DEV_ISSUER = "finsync-dev-issuer"
_KEY_FILE = "dev-issuer-key.pem"
JWKS_FILE = "dev-issuer-jwks.json"


class UnknownPerson(ValueError):
    pass


@dataclass(frozen=True)
class DevIssuer:
    key: Ed25519PrivateKey
    key_id: str
    directory: dict[str, tuple[str, ...]]

    def issue(self, subject: str, *, workflow_id: str, decision: str, now: datetime,
              lifetime: timedelta = timedelta(minutes=10), roles: tuple[str, ...] | None = None) -> str:
        """A decision token for `subject` with the directory's roles (`roles` overrides: tests)."""
        roles = self.roles_of(subject) if roles is None else roles
        claims = {"iss": DEV_ISSUER, "aud": DECISION_AUDIENCE, "sub": subject, "roles": list(roles),
                  "wf": workflow_id, "decision": decision, "jti": str(uuid.uuid4()),
                  "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.key_id})

    def roles_of(self, subject: str) -> tuple[str, ...]:
        if subject not in self.directory:
            raise UnknownPerson(f"{subject!r} is not in the development directory "
                                f"({', '.join(sorted(self.directory))})")
        return self.directory[subject]

    def access_token(self, subject: str, *, audience: str, now: datetime,
                     lifetime: timedelta = timedelta(hours=8), roles: tuple[str, ...] | None = None) -> str:
        """A session's access token for `subject` (not bound to a workflow or decision), as an
        identity provider gives a signed-in user: the codec server's bearer token."""
        roles = self.roles_of(subject) if roles is None else roles
        claims = {"iss": DEV_ISSUER, "aud": audience, "sub": subject, "roles": list(roles), "jti": str(uuid.uuid4()),
                  "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.key_id})

    def keyring(self) -> Keyring:
        return Keyring.from_jwks(DEV_ISSUER, self.jwks())

    def jwks(self) -> dict[str, object]:
        return public_jwks(self.key, self.key_id)


def ensure_dev_issuer(state_dir: Path) -> DevIssuer:
    """The stack's issuer, created once: its private key (0600) and public JWKS in `state_dir`."""
    key = signing_key(state_dir / _KEY_FILE)
    issuer = DevIssuer(key=key, key_id="dev-" + thumbprint(key), directory=dict(DEV_DIRECTORY))
    (state_dir / JWKS_FILE).write_text(json.dumps(issuer.jwks()))
    return issuer


def ephemeral_dev_issuer() -> DevIssuer:
    """An in-memory issuer for tests."""
    key = Ed25519PrivateKey.generate()
    return DevIssuer(key=key, key_id="test-" + thumbprint(key), directory=dict(DEV_DIRECTORY))
