"""Result of validating an invoice against ERP master data, and of posting it."""

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from canonical.erp import PostedInvoice
from canonical.supplier import SupplierBankAccount


class ValidatedInvoice(BaseModel):
    """Carries the bank account to pay, so this payload is encrypted by the codec."""

    schema_version: Literal[1] = 1
    supplier_name: str
    bank_account: SupplierBankAccount
    payee_mismatch: str | None = Field(
        default=None, description="an e-invoice asks payment to another account than the ERP's (masked): a "
                                  "PayeeAccountMismatch case for master data, never a payment to either unseen")


class PayeeClaim(BaseModel):
    """The account an e-invoice asks to be paid to (its PayeeFinancialAccount): compared with the
    ERP's master data for the supplier, never paid to. The field name makes the codec encrypt
    every payload that carries one (architecture invariant 9)."""

    document_id: str
    payee_iban: str


class PostingOutcome(StrEnum):
    POSTED = "POSTED"  # this call created the ERP document
    ALREADY_POSTED = "ALREADY_POSTED"  # found by reference: an earlier attempt had posted it
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"  # no answer; the ERP may still post it


class PostingResult(BaseModel):
    schema_version: Literal[1] = 1
    outcome: PostingOutcome
    posted: PostedInvoice | None = None
