"""Named, non-retryable business errors. The type names are the contract with the workflow
(see canonical.exceptions.EXCEPTION_OWNERS): retrying them can only repeat the same answer."""

from datetime import timedelta

from temporalio.exceptions import ApplicationError


def business_error(error_type: str, message: str, *details: object) -> ApplicationError:
    return ApplicationError(message, *details, type=error_type, non_retryable=True)


def transient_error(message: str, retry_after: float | None = None) -> ApplicationError:
    """Retryable, and when the counterpart said when to come back (Retry-After), we do."""
    delay = timedelta(seconds=retry_after) if retry_after else None
    return ApplicationError(message, type="CounterpartUnavailable", next_retry_delay=delay)
