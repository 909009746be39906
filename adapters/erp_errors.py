"""The failures any ERP adapter raises (adapters/erp_port.py), so activities translate one family
of errors whatever the ERP: retry, ask a person, or look up an outcome nobody saw."""


class ErpError(Exception):
    """Base of every ERP adapter failure."""


class ErpTransientError(ErpError):
    """The ERP was busy or unreachable and nothing was processed: retrying is safe."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class ErpBusinessError(ErpError):
    """The ERP refused the request and said why; retrying the same request will not help."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"ERP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ErpOutcomeUnknown(ErpError):
    """A write may have reached the ERP but no answer came back: look it up before writing again."""


class ErpStatementNotPostable(ErpError, ValueError):
    """The bank statement itself can not become this ERP's posting (wrong kind, broken balance
    figures): nothing was sent, and retrying will not help; a person looks at the bank message."""
