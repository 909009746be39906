"""A token bucket per authenticated sender: a sender may push `burst` documents at once and
`rate` a second after that; beyond it the push is answered 429 with Retry-After, before it is
parsed or anything is signalled. Kept in this process's memory: with several intake replicas
behind a balancer each has its own buckets, so a sender's limit is per replica."""

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic):
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("an intake rate limit needs a positive rate and a burst of at least 1")
        self.rate, self.burst, self._clock = rate_per_second, burst, clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, sender: str) -> float:
        """0 if the sender may push now (one token taken), else the seconds until it may."""
        now = self._clock()
        bucket = self._buckets.setdefault(sender, _Bucket(tokens=float(self.burst), at=now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate
