"""How the bank's answers become exceptions the payment workflow can act on: retry the same
bytes, build a new file, or look up an outcome nobody saw."""


class BankError(Exception):
    """Base of every bank adapter failure. Raised as such for what neither a retry nor a new
    file fixes (credentials refused, a route the bank does not have): configuration."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class BankTransientError(BankError):
    """The bank was busy or unreachable. Retrying the SAME bytes is safe even if it did
    process the file: the MsgId makes a resend answer DUPL ("already have it")."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class BankRejectedFile(BankError):
    """The bank refused the whole file (FF01 structure, AM18 count, AM10 control sum, a
    debtor that refuses files ...). Nothing was booked, but the MsgId is burned: a corrected
    file needs a new MsgId. Per-payment rejections are NOT this; they come in the pain.002."""

    def __init__(self, reason_code: str | None, findings: list[str], *, status: int | None = None):
        self.reason_code = reason_code
        self.findings = list(findings)
        super().__init__(f"bank refused the file ({reason_code or 'no reason code'}): {'; '.join(self.findings)}",
                         status=status)


class BankOutcomeUnknown(BankError):
    """The file was sent but no answer came back: the bank may hold it. Resend the same bytes
    (a DUPL answer means it does) or look its payments up; never rebuild the file."""
