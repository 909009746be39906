"""What a push must pass before intake reads it as an invoice: a known sender's valid, fresh
signature (401 otherwise) and that sender's rate (429 otherwise). Both answers start and signal
nothing. Configured from settings (architecture invariant 9: secrets from a file, never printed)."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from math import ceil
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse

from intake.rate_limit import RateLimiter
from intake.signature import SIGNATURE, Senders, SendersFileError, Unauthenticated

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger("finsync.intake")


@dataclass
class Boundary:
    senders: Senders
    limiter: RateLimiter
    tolerance_seconds: int = 300
    documents_per_invoice: int = 10

    @classmethod
    def from_settings(cls, settings: "Settings", senders: Senders | None = None) -> "Boundary":
        if senders is None:
            if settings.intake_senders_file is None:
                raise SendersFileError("FINSYNC_INTAKE_SENDERS_FILE is not set: intake takes only signed pushes, "
                                       "from the senders that file names ('<sender id> <secret>' a line)")
            senders = Senders.from_file(settings.intake_senders_file)
        return cls(senders=senders, limiter=RateLimiter(settings.intake_rate_per_second, settings.intake_rate_burst),
                   tolerance_seconds=settings.intake_signature_tolerance_seconds,
                   documents_per_invoice=settings.intake_documents_per_invoice)

    def admit(self, headers: Mapping[str, str], body: bytes) -> str | JSONResponse:
        """The authenticated sender id, or the answer that refuses the push."""
        try:
            sender = self.senders.verify(headers, body, self.tolerance_seconds)
        except Unauthenticated as refused:
            log.warning("refused an unauthenticated push (sender %r): %s", refused.sender, refused.reason)
            return JSONResponse({"code": "UNAUTHENTICATED", "reason": refused.reason}, status_code=401,
                                headers={"WWW-Authenticate": f'{SIGNATURE} realm="finsync-intake"'})
        wait = self.limiter.take(sender)
        if wait > 0:
            log.info("sender %s over its rate (%.1f/s, burst %d)", sender, self.limiter.rate, self.limiter.burst)
            return JSONResponse({"code": "RATE-LIMITED", "reason": f"at most {self.limiter.rate:g} pushes a second "
                                 f"(burst {self.limiter.burst}) per sender; try again later"},
                                status_code=429, headers={"Retry-After": str(max(1, ceil(wait)))})
        return sender
