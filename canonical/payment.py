"""Payment instruction to the bank and the bank's answers, free of ISO 20022 field names."""

import hashlib
from datetime import date
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from canonical.money import CurrencyCode, Money


class PaymentInstruction(BaseModel):
    """One credit transfer for one invoice and one payment attempt."""

    schema_version: Literal[1] = 1
    invoice_key: str
    attempt: int
    end_to_end_id: str
    amount: Money
    currency: CurrencyCode
    requested_execution_date: date
    creditor_name: str
    creditor_iban: str | None = Field(default=None, description="ISO 20022 payments: the payee's IBAN")
    creditor_bic: str | None = None
    creditor_routing_number: str | None = Field(default=None, description="NACHA: the payee bank's ABA routing")
    creditor_account_number: str | None = Field(default=None, description="NACHA: the payee's account number")
    remittance_reference: str

    def payee_account(self) -> str:
        """Which account this pays: the IBAN, or the ABA routing and account number."""
        return payee_account(self.creditor_iban, self.creditor_routing_number, self.creditor_account_number)


class BankStatus(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    PARTIALLY_ACCEPTED = "PARTIALLY_ACCEPTED"
    SETTLED = "SETTLED"
    RETURNED = "RETURNED"


class BankStatusReport(BaseModel):
    """What the bank said about one payment (pain.002, camt.054 or pacs.004), or what
    treasury signalled by hand."""

    schema_version: Literal[1] = 1
    message_id: str | None = None
    original_message_id: str | None = None
    end_to_end_id: str | None = None
    status: BankStatus = BankStatus.REJECTED
    reason_code: str | None = None
    reason_text: str | None = None
    booking_date: date | None = None
    amount: Money | None = None
    # Set by the bank inbox on a settlement whose treasury outflow it made actual as it read the
    # camt.054 (activities/bank_inbox.py): the lifecycle writes it only when this is not set.
    treasury_booked: bool = False


class BankStatusReports(BaseModel):
    """Several of the bank's answers about one payment leg, read in one inbox batch (a pain.002
    and a camt.054, say), in the order they were read: the `bank_statuses` signal."""

    reports: list[BankStatusReport] = Field(min_length=1)


class PaymentRecord(BaseModel):
    """finsync's register of every payment it sent: the bank answers by EndToEndId and
    MsgId, the ERP clears by reference; this ties each back to one invoice lifecycle."""

    schema_version: Literal[1] = 1
    end_to_end_id: str
    invoice_key: str
    workflow_id: str
    run_key: str
    message_id: str
    payment_info_id: str
    attempt: int
    amount: Money
    currency: CurrencyCode
    remittance_reference: str
    accounting_document: str | None = Field(default=None, description="the ERP's key into open items and clearing")


def payee_account(iban: str | None, routing_number: str | None, account_number: str | None) -> str:
    """One text per payee account, to compare accounts (an IBAN, else `ABA<routing>/<account>`)."""
    if iban:
        return iban.replace(" ", "").upper()
    return f"ABA{(routing_number or '').strip()}/{(account_number or '').strip().upper()}"


def end_to_end_id(invoice_key: str, attempt: int) -> str:
    """≤ 35 characters (ISO 20022), unique per invoice and attempt, readable by treasury.
    A long key is shortened with a digest so two keys never share an id. Only characters
    of the SEPA set (letters, digits, - and /)."""
    suffix = f"/{attempt}"
    if len(invoice_key) + len(suffix) <= 35:
        return invoice_key + suffix
    digest = hashlib.sha256(invoice_key.encode()).hexdigest()[:10]
    return f"{invoice_key[: 35 - len(suffix) - 11]}-{digest}{suffix}"
