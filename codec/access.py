"""Who may use the codec server (architecture invariant 9): the bearer token the Web UI forwards
for its signed-in user, a JWT of the company's identity provider, checked for signature (the
keyring's JWKS), issuer, audience, expiry and a role claim. No token or a token that proves
nothing is 401; a good token without the role is 403."""

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jwt

from identity.keyring import Keyring
from identity.tokens import ALGORITHMS

if TYPE_CHECKING:
    from settings import Settings

LEEWAY_SECONDS = 60  # clocks of the identity provider and this host drift a little


class AccessRefused(Exception):
    """Why a caller may not decode or encode; `status` is the HTTP answer (401 or 403)."""

    def __init__(self, status: int, reason: str, subject: str | None = None):
        super().__init__(reason)
        self.status, self.reason, self.subject = status, reason, subject


@dataclass(frozen=True)
class Caller:
    """A verified caller: who (the token's `sub`), with which roles, by which token."""

    subject: str
    roles: frozenset[str]
    token_id: str
    key_id: str


@dataclass(frozen=True)
class CodecAccess:
    keyring: Keyring
    audience: str
    role_claim: str
    decode_roles: frozenset[str]
    encode_roles: frozenset[str]

    @classmethod
    def from_settings(cls, settings: "Settings") -> "CodecAccess":
        from identity.configured import decision_keyring

        keyring = decision_keyring(environment=settings.environment, issuer=settings.identity_issuer,
                                   jwks_file=settings.identity_jwks_file, dev_dir=Path(settings.identity_dev_dir))
        return cls(keyring=keyring, audience=settings.codec_audience, role_claim=settings.codec_role_claim,
                   decode_roles=settings.codec_decode_roles, encode_roles=settings.codec_encode_roles)

    def verify(self, token: str | None) -> Caller:
        """The caller behind `token`, or AccessRefused(401)."""
        if not token:
            raise AccessRefused(401, "a bearer token from the identity provider is required")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AccessRefused(401, "the bearer token is not a JWT") from None
        key_id = str(header.get("kid", ""))
        key = self.keyring.key_for(key_id)
        if key is None:
            raise AccessRefused(401, f"the token's signing key {key_id!r} is not one of the identity provider's")
        try:
            claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=self.audience,
                                issuer=self.keyring.issuer, leeway=LEEWAY_SECONDS,
                                options={"require": ["exp", "sub", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise AccessRefused(401, "the token has expired: sign in again") from None
        except jwt.InvalidAudienceError:
            raise AccessRefused(401, f"the token is not for this codec server (audience {self.audience})") from None
        except jwt.InvalidIssuerError:
            raise AccessRefused(401, f"the token was not issued by {self.keyring.issuer}") from None
        except jwt.InvalidSignatureError:
            raise AccessRefused(401, "the token's signature does not verify") from None
        except jwt.PyJWTError as err:
            raise AccessRefused(401, f"the token is not valid: {err}") from None
        return Caller(subject=str(claims["sub"]), roles=_roles(claims, self.role_claim),
                      token_id=str(claims.get("jti", "")), key_id=key_id)

    def authorize(self, token: str | None, *, decode: bool) -> Caller:
        """The caller if their token carries a role for the operation, else AccessRefused."""
        caller = self.verify(token)
        needed = self.decode_roles if decode else self.encode_roles
        if not needed & caller.roles:
            what = "read bank details (/decode)" if decode else "encrypt payloads (/encode)"
            raise AccessRefused(403, f"{caller.subject} may not {what}: it needs one of the roles "
                                     f"{', '.join(sorted(needed))} in the token's {self.role_claim!r} claim",
                                subject=caller.subject)
        return caller


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case)."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _roles(claims: Mapping[str, object], claim: str) -> frozenset[str]:
    """The roles under a dotted claim path (`roles`, `groups`, `realm_access.roles`): a list of
    names, or one space-separated string (as `scope` is)."""
    value: object = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()
