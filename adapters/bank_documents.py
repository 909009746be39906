"""Any bank message into canonical documents, whatever its format: ISO 20022 XML (pain.002,
camt.05x, pacs.004), or what a NACHA account's bank writes instead (its acknowledgement, a NACHA
return file, a BAI2 statement). The message's kind says what it is for; its body says its format.
`read_in_our_terms` also names payments and files by our ids (adapters/bank_references.py)."""

from collections.abc import Sequence

from adapters.bank_references import BankDocument, BankReferenceRegister, in_our_terms
from adapters.iso20022.readers import read_message_all
from adapters.iso20022.xml import UnreadableBankMessage
from adapters.nacha.bai2 import is_bai2, read_bai2
from adapters.nacha.readers import is_acknowledgement, is_nacha_file, read_acknowledgement, read_return_file
from canonical.bank import MessageKind

__all__ = ["UnreadableBankMessage", "read_bank_message", "read_in_our_terms"]

_TEXT_FORMATS = (
    (is_acknowledgement, MessageKind.STATUS_REPORT, lambda body: [read_acknowledgement(body)], "NACHA acknowledgement"),
    (is_nacha_file, MessageKind.RETURN, read_return_file, "NACHA return file"),
    (is_bai2, MessageKind.STATEMENT, read_bai2, "BAI2 statement"),
)


def read_bank_message(kind: MessageKind, body: str | bytes) -> Sequence[BankDocument]:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if text.lstrip().startswith("<"):
        return read_message_all(kind, body)
    for recognises, role, read, name in _TEXT_FORMATS:
        if recognises(text):
            if kind is not role:
                raise UnreadableBankMessage(f"announced as {kind.value} but the body is a {name}")
            return list(read(text))
    raise UnreadableBankMessage(f"a {kind.value} that is neither ISO 20022 XML, NACHA nor BAI2")


def read_in_our_terms(kind: MessageKind, body: str | bytes, register: BankReferenceRegister) -> list[BankDocument]:
    return in_our_terms(read_bank_message(kind, body), register)
