"""The keyring a process trusts, from its settings: the identity provider's JWKS in production,
the embedded stack's local issuer in development (created on first use)."""

from pathlib import Path

from identity.dev_issuer import DEV_ISSUER, DevIssuer, ensure_dev_issuer
from identity.keyring import Keyring


class IdentityNotConfigured(ValueError):
    pass


def decision_keyring(*, environment: str, issuer: str | None, jwks_file: Path | None, dev_dir: Path) -> Keyring:
    if jwks_file is not None:
        if not issuer:
            raise IdentityNotConfigured("FINSYNC_IDENTITY_JWKS_FILE needs FINSYNC_IDENTITY_ISSUER (the `iss` its "
                                        "tokens carry)")
        return Keyring.from_file(issuer, jwks_file)
    if environment == "production":
        raise IdentityNotConfigured("FINSYNC_ENVIRONMENT=production needs the identity provider: set "
                                    "FINSYNC_IDENTITY_ISSUER and FINSYNC_IDENTITY_JWKS_FILE (no decision could be "
                                    "verified, and the development issuer is not for production)")
    return ensure_dev_issuer(dev_dir).keyring()


def development_issuer(*, environment: str, dev_dir: Path) -> DevIssuer:
    """For `python -m cli decision`: the local issuer, never in production."""
    if environment == "production":
        raise IdentityNotConfigured("the development issuer does not sign decisions in production: ask the "
                                    "identity provider for a decision token")
    return ensure_dev_issuer(dev_dir)


__all__ = ["DEV_ISSUER", "IdentityNotConfigured", "decision_keyring", "development_issuer"]
