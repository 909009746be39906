"""Decision tokens: a short-lived JWT naming the person (`sub`), their roles, the workflow it is
for (`wf`) and the decision (`decision`). A token for one workflow or decision is refused on
another, so a captured token cannot be replayed elsewhere; `jti` lets a workflow refuse the same
token twice. Verification is pure (keys and time are arguments), so a workflow's update
validator can run it deterministically with `workflow.now()`."""

from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pydantic import BaseModel, ConfigDict

from identity.keyring import Keyring

DECISION_AUDIENCE = "finsync-decisions"
MAX_LIFETIME = timedelta(minutes=30)  # a decision token is for one decision now, not a session
ALGORITHMS = ["EdDSA", "ES256", "RS256"]


class DecisionRefused(ValueError):
    """The token does not prove who decides: the message says why, for the caller."""


class VerifiedPerson(BaseModel):
    """The verdict on a decision token: who decided, as the identity provider says."""

    model_config = ConfigDict(frozen=True)

    subject: str
    roles: tuple[str, ...]
    issuer: str
    key_id: str
    token_id: str
    decision: str
    workflow_id: str

    @property
    def verified_by(self) -> str:
        """How the identity was verified, for status notes and the audit trail."""
        return f"jwt:{self.issuer}#{self.key_id}"


def signed_claims(token: str, *, keyring: Keyring, audience: str, what: str, max_lifetime: timedelta,
                  now: datetime) -> tuple[dict[str, Any], str]:
    """The claims of a token `keyring` signed for `audience`, and its key id, once its signature,
    issuer and times hold (`what` names it in the refusal); the caller checks what it binds."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as err:
        raise DecisionRefused(f"the {what} is malformed: {err}") from None
    key = keyring.key_for(str(header.get("kid", "")))
    if key is None:
        raise DecisionRefused(f"the {what}'s key {header.get('kid')!r} is not one this worker trusts")
    try:
        claims = jwt.decode(
            token, key.key, algorithms=ALGORITHMS, audience=audience, issuer=keyring.issuer,
            options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"], "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError as err:
        raise DecisionRefused(f"the {what} is not valid: {err}") from None
    issued, expires = _instant(claims["iat"]), _instant(claims["exp"])
    if expires - issued > max_lifetime:
        raise DecisionRefused(f"the {what} lives longer than {max_lifetime}; ask for a fresh one")
    if now >= expires:
        raise DecisionRefused(f"the {what} expired at {expires.isoformat()}")
    if now < issued - timedelta(minutes=2):  # clocks drift a little, not by minutes
        raise DecisionRefused(f"the {what} was issued in the future")
    return claims, str(header["kid"])


def verify_decision_token(token: str, *, keyring: Keyring, workflow_id: str, decision: str,
                          now: datetime) -> VerifiedPerson:
    """The person behind `token`, or DecisionRefused naming what is wrong."""
    if not token or token.count(".") != 2:
        raise DecisionRefused(f"{decision} needs a signed decision token (python -m cli decision {decision} ...)")
    claims, key_id = signed_claims(token, keyring=keyring, audience=DECISION_AUDIENCE, what="decision token",
                                   max_lifetime=MAX_LIFETIME, now=now)
    if claims.get("wf") != workflow_id:
        raise DecisionRefused(f"the decision token is for {claims.get('wf')!r}, not {workflow_id!r}")
    if claims.get("decision") != decision:
        raise DecisionRefused(f"the decision token is for {claims.get('decision')!r}, not {decision!r}")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise DecisionRefused("the decision token's roles are not a list of names")
    return VerifiedPerson(subject=str(claims["sub"]), roles=tuple(roles), issuer=keyring.issuer,
                          key_id=key_id, token_id=str(claims["jti"]), decision=decision,
                          workflow_id=workflow_id)


def require_role(person: VerifiedPerson, allowed: frozenset[str]) -> None:
    if not allowed.intersection(person.roles):
        raise DecisionRefused(f"{person.subject} may not {person.decision}: it needs one of the roles "
                              f"{', '.join(sorted(allowed))} (token has {', '.join(person.roles) or 'none'})")


def unverified_person(token: str) -> VerifiedPerson:
    """The claims of a token a validator has already verified: for update handlers, which run
    again on replay where validators do not (pure parsing, no keys or clock)."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return VerifiedPerson(subject=str(claims["sub"]), roles=tuple(claims.get("roles", [])),
                          issuer=str(claims["iss"]), key_id=str(header.get("kid", "")),
                          token_id=str(claims["jti"]), decision=str(claims.get("decision")),
                          workflow_id=str(claims.get("wf")))


def _instant(value: object) -> datetime:
    if not isinstance(value, int | float):
        raise DecisionRefused("the decision token's times are not numbers")
    return datetime.fromtimestamp(float(value), tz=UTC)
