"""Approvals signed by the AP platform (architecture invariant 8). An invoice started with
`approved_by` goes straight on only when the AP platform signed that approval: a JWT from its
issuer (`FINSYNC_AP_PLATFORM_ISSUER`, keys in `FINSYNC_AP_PLATFORM_JWKS_FILE`) naming the
invoice's workflow id, gross amount, currency, payee bank account and the approver (`sub`),
optionally its submitter. A typed `approved_by` without it proves nothing.

Verification is pure (keys and time are arguments). Workflows run it in a local activity at the
lifecycle's start and record the verdict, so a replay with rotated keys decides the same.
Development (`make up`, tests) signs with a local key kept beside the decision issuer's."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict

from identity.dev_keys import public_jwks, signing_key, thumbprint
from identity.keyring import Keyring, KeyringSlot
from identity.tokens import DecisionRefused, signed_claims

AP_PLATFORM_AUDIENCE = "finsync-ap-approvals"
DEV_AP_PLATFORM = "finsync-dev-ap-platform"
# An approval is signed when given; intake or a batch may start the invoice days later.
MAX_LIFETIME = timedelta(days=7)
_KEY_FILE = "dev-ap-platform-key.pem"
JWKS_FILE = "dev-ap-platform-jwks.json"


class PlatformApproval(BaseModel):
    """The verdict on an AP-platform approval: who approved which figures, as the platform signed."""

    model_config = ConfigDict(frozen=True)

    approver: str
    submitter: str | None
    token_id: str
    issuer: str
    key_id: str

    @property
    def verified_by(self) -> str:
        return f"ap-platform:{self.issuer}#{self.key_id}"


def verify_platform_approval(token: str, *, keyring: Keyring, workflow_id: str, gross_amount: Decimal,
                             currency: str, bank_account_id: str | None, approved_by: str | None,
                             now: datetime) -> PlatformApproval:
    """The approval behind `token` for exactly these figures, or DecisionRefused saying why."""
    claims, key_id = signed_claims(token, keyring=keyring, audience=AP_PLATFORM_AUDIENCE,
                                   what="AP-platform approval", max_lifetime=MAX_LIFETIME, now=now)
    if claims.get("wf") != workflow_id:
        raise DecisionRefused(f"the AP-platform approval is for {claims.get('wf')!r}, not {workflow_id!r}")
    if _decimal(claims.get("gross")) != gross_amount or claims.get("currency") != currency:
        raise DecisionRefused(f"the AP-platform approval is for {claims.get('gross')} {claims.get('currency')}, "
                              f"not {gross_amount} {currency}")
    if claims.get("bank_account_id") != bank_account_id:
        raise DecisionRefused(f"the AP-platform approval pays bank account {claims.get('bank_account_id')!r}, "
                              f"not {bank_account_id!r}")
    if approved_by is not None and approved_by != claims["sub"]:
        raise DecisionRefused(f"the AP-platform approval was given by {claims['sub']}, not {approved_by}")
    submitter = claims.get("submitter")
    if submitter is not None and submitter == claims["sub"]:
        raise DecisionRefused(f"{submitter} submitted and approved the invoice in the AP platform (four eyes)")
    return PlatformApproval(approver=str(claims["sub"]), submitter=str(submitter) if submitter else None,
                            token_id=str(claims["jti"]), issuer=keyring.issuer, key_id=key_id)


@dataclass(frozen=True)
class PlatformSigner:
    """The AP platform's side, for development and tests only: signs approvals."""

    key: Ed25519PrivateKey
    key_id: str
    issuer: str = DEV_AP_PLATFORM

    def sign(self, *, workflow_id: str, gross_amount: Decimal | str, currency: str, bank_account_id: str | None,
             approver: str, now: datetime, submitter: str | None = None,
             lifetime: timedelta = timedelta(days=1)) -> str:
        claims = {"iss": self.issuer, "aud": AP_PLATFORM_AUDIENCE, "sub": approver, "wf": workflow_id,
                  "gross": str(gross_amount), "currency": currency, "bank_account_id": bank_account_id,
                  "jti": str(uuid.uuid4()), "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}
        if submitter is not None:
            claims["submitter"] = submitter
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.key_id})

    def keyring(self) -> Keyring:
        return Keyring.from_jwks(self.issuer, self.jwks())

    def jwks(self) -> dict[str, object]:
        return public_jwks(self.key, self.key_id)


def ensure_dev_platform(state_dir: Path) -> PlatformSigner:
    """The embedded stack's stand-in for the AP platform, created once in `state_dir`."""
    key = signing_key(state_dir / _KEY_FILE)
    signer = PlatformSigner(key=key, key_id="dev-ap-" + thumbprint(key))
    (state_dir / JWKS_FILE).write_text(json.dumps(signer.jwks()))
    return signer


def ephemeral_platform() -> PlatformSigner:
    key = Ed25519PrivateKey.generate()
    return PlatformSigner(key=key, key_id="test-ap-" + thumbprint(key))


def platform_keyring(*, environment: str, issuer: str | None, jwks_file: Path | None,
                     dev_dir: Path) -> Keyring | None:
    """The AP platform this worker trusts; None in production without one (then no typed
    `approved_by` is ever honoured: every invoice is approved in finsync)."""
    if jwks_file is not None:
        if not issuer:
            raise ValueError("FINSYNC_AP_PLATFORM_JWKS_FILE needs FINSYNC_AP_PLATFORM_ISSUER")
        return Keyring.from_file(issuer, jwks_file)
    if environment == "production":
        return None
    return ensure_dev_platform(dev_dir).keyring()


_platform = KeyringSlot()  # the AP platform's keys: signed approvals
install, installed = _platform.install, _platform.installed


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None

