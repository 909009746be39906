"""Who may push: each sending access point signs its push with a secret of its own (HMAC-SHA256).

    X-Finsync-Sender:    <sender id>                       the key into the senders file
    X-Finsync-Timestamp: <unix seconds>                    inside the signed material
    X-Finsync-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

A push without these, from an unknown sender, with another signature, or stamped outside the
tolerance window (a replay of a captured push) is refused with 401 before its body is read as an
invoice. A replay inside the window is the same bytes: the push register answers it as the first
push and signals nothing. The secrets come from a file (`FINSYNC_INTAKE_SENDERS_FILE`, one
`<sender id> <secret>` a line, `#` comments) and are never printed (architecture invariant 9).
"""

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

SENDER = "X-Finsync-Sender"
TIMESTAMP = "X-Finsync-Timestamp"
SIGNATURE = "X-Finsync-Signature"
SCHEME = "sha256="
MIN_SECRET = 32  # characters: a secret anyone could guess is no authentication


class SendersFileError(ValueError):
    """The senders file is missing or malformed (the message never holds a secret)."""


class Unauthenticated(Exception):
    def __init__(self, reason: str, sender: str | None = None):
        super().__init__(reason)
        self.reason, self.sender = reason, sender


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def signed_headers(sender: str, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """What a sending access point adds to its POST (the relay, tests)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {SENDER: sender, TIMESTAMP: str(stamp), SIGNATURE: sign(secret, stamp, body)}


class Senders:
    """Sender id -> secret. Its repr names the senders, never their secrets."""

    def __init__(self, by_id: Mapping[str, str]):
        for sender, secret in by_id.items():
            if len(secret) < MIN_SECRET:
                raise SendersFileError(f"the secret of sender {sender!r} has {len(secret)} characters; "
                                       f"at least {MIN_SECRET} (e.g. `openssl rand -base64 32`)")
        self._by_id = dict(by_id)

    def __repr__(self) -> str:
        return f"Senders({sorted(self._by_id)})"

    @classmethod
    def from_file(cls, path: Path, name: str = "FINSYNC_INTAKE_SENDERS_FILE") -> "Senders":
        source = f"{name} ({path})"
        try:
            text = path.read_text()
        except OSError as err:
            raise SendersFileError(f"{source} can not be read: {err.strerror or err}") from None
        by_id: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2:
                raise SendersFileError(f"{source} line {number}: expected '<sender id> <secret>'")
            if words[0] in by_id:
                raise SendersFileError(f"{source} line {number}: sender {words[0]!r} appears twice")
            by_id[words[0]] = words[1]
        if not by_id:
            raise SendersFileError(f"{source} names no sender: every push would be refused")
        return cls(by_id)

    def secret_of(self, sender: str) -> str:
        """For the sending side (the relay): never logged, never printed."""
        try:
            return self._by_id[sender]
        except KeyError:
            raise SendersFileError(f"the senders file names no sender {sender!r}") from None

    def verify(self, headers: Mapping[str, str], body: bytes, tolerance_seconds: int,
               now: float | None = None) -> str:
        """The authenticated sender id, or Unauthenticated saying what was wrong (not which secret)."""
        sender, stamp, signature = headers.get(SENDER), headers.get(TIMESTAMP), headers.get(SIGNATURE)
        if not (sender and stamp and signature):
            raise Unauthenticated(f"a push must carry {SENDER}, {TIMESTAMP} and {SIGNATURE}")
        try:
            timestamp = int(stamp)
        except ValueError:
            raise Unauthenticated(f"{TIMESTAMP} is not unix seconds", sender) from None
        secret = self._by_id.get(sender)
        # An unknown sender costs the same comparison, so timing does not tell which ids exist.
        expected = sign(secret or "\0" * MIN_SECRET, timestamp, body)
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()) or secret is None:
            raise Unauthenticated("unknown sender or wrong signature", sender)
        skew = (time.time() if now is None else now) - timestamp
        if abs(skew) > tolerance_seconds:
            raise Unauthenticated(f"the timestamp is {abs(skew):.0f}s off this server's clock "
                                  f"(at most {tolerance_seconds}s): a replayed or delayed push", sender)
        return sender


def generate_senders_file(path: Path, sender: str) -> str:
    """The secret of `sender` in a senders file readable only by its owner, created with a new
    random secret if the file does not exist (the embedded stack's); an existing file is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"# <sender id> <secret>: the access points that may push e-invoices\n"
                    f"{sender} {secrets.token_urlsafe(32)}\n")
    return Senders.from_file(path).secret_of(sender)
