"""Named, non-retryable business errors. The type names are the contract with the workflow
(see canonical.exceptions.EXCEPTION_OWNERS): retrying them can only repeat the same answer."""

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from canonical.masking import mask_bank_details


def business_error(error_type: str, message: str, *details: object, known: tuple[str | None, ...] = ()
                   ) -> ApplicationError:
    """`known`: account numbers the caller was checking, masked wherever the message quotes
    them; IBAN-like ones are masked anyway (the message reaches history, cases and logs)."""
    return ApplicationError(mask_bank_details(message, *known), *details, type=error_type, non_retryable=True)


def transient_error(message: str, retry_after: float | None = None) -> ApplicationError:
    """Retryable, and when the counterpart said when to come back (Retry-After), we do."""
    delay = timedelta(seconds=retry_after) if retry_after else None
    return ApplicationError(mask_bank_details(message), type="CounterpartUnavailable", next_retry_delay=delay)
