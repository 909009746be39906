"""Retry-After as both counterparts send it, for the transient errors that carry it."""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either whole seconds (RFC 9110: delay-seconds = 1*DIGIT) or an HTTP date."""
    if not value:
        return None
    if value.strip().isdigit():
        return max(0, int(value.strip()))
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None
