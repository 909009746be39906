"""The last guard of the worker's log: every record's text, its arguments and traceback
included, is masked (canonical.masking) before a handler writes it, so an account number that
slipped into an exception or a counterpart's answer never reaches the log in clear
(architecture invariant 9). The code that logs masks first; this catches what it missed."""

import logging

from canonical.masking import mask_bank_details


class MaskBankDetails(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_bank_details(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_bank_details(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """On every handler of `logger` (the root): filters on a handler see every record that
    reaches it, those on a logger only the ones logged there."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, MaskBankDetails) for f in handler.filters):
            handler.addFilter(MaskBankDetails())
