"""How SAP's answers become exceptions the workflow can act on: retry, ask a person, or
reconcile an outcome nobody saw."""


import httpx

from adapters.erp_errors import ErpBusinessError, ErpError, ErpOutcomeUnknown, ErpTransientError
from adapters.http_retry import retry_after_seconds

# Each SAP error is the matching ERP-port error (adapters/erp_errors.py), so activities catch
# one family whatever the ERP; SAP's own names stay for the adapter and its tests.


class SapError(ErpError):
    """Base of every SAP adapter failure."""


class SapTransientError(SapError, ErpTransientError):
    """SAP was busy or unreachable and nothing was processed: retrying is safe."""


class SapBusinessError(SapError, ErpBusinessError):
    """SAP refused the request and said why; retrying the same request will not help."""

    def __init__(self, status: int, code: str, message: str):
        ErpBusinessError.__init__(self, status, code, message)
        self.args = (f"SAP {status} {code}: {message}",)


class SapOutcomeUnknown(SapError, ErpOutcomeUnknown):
    """A write may have reached SAP but no answer came back: look it up before posting again."""


def is_csrf_refusal(response: httpx.Response) -> bool:
    return response.status_code == 403 and response.headers.get("x-csrf-token", "").lower() == "required"


def error_envelope(response: httpx.Response) -> tuple[str, str]:
    """(code, message text) from SAP's OData error envelope; the raw body when it is not one."""
    try:
        error = response.json()["error"]
        message = error.get("message", "")
        text = message.get("value", "") if isinstance(message, dict) else str(message)
        return str(error.get("code", "")), text
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", response.text[:500]


def raise_for_sap_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    code, message = error_envelope(response)
    if status == 429 or status >= 500:
        raise SapTransientError(
            f"SAP {status} {code}: {message}".strip(),
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
            status=status,
        )
    raise SapBusinessError(status, code, message)
