"""Supplier master data as the ERP holds it. Bank fields are sensitive: the payload codec
encrypts any payload that carries them (see `SENSITIVE_FIELDS`)."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# Field names whose values are bank details. The codec encrypts every payload in which one
# of them carries a value, so they never sit in plain text in workflow history.
SENSITIVE_FIELDS = ("iban", "bic", "account_number", "bank_number")


class SupplierBankAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    bank_account_id: str = Field(description="the ERP's id of this account for the supplier, e.g. 0001")
    country: str = Field(min_length=2, max_length=2)
    holder_name: str | None = None
    iban: str | None = None
    bic: str | None = None
    account_number: str | None = None
    bank_number: str | None = None

    def masked(self) -> str:
        """For logs, summaries and status: never the full account."""
        ident = self.iban or self.account_number or ""
        return f"{self.bank_account_id} ****{ident[-4:]}" if ident else self.bank_account_id


class Supplier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    supplier_id: str
    name: str
    is_blocked: bool = False
    vat_id: str | None = None
    bank_accounts: list[SupplierBankAccount] = []

    def bank_account(self, bank_account_id: str | None) -> SupplierBankAccount | None:
        """The account an invoice names, or the supplier's first one when it names none."""
        if bank_account_id is None:
            return self.bank_accounts[0] if self.bank_accounts else None
        return next((a for a in self.bank_accounts if a.bank_account_id == bank_account_id), None)


class CompanyCode(BaseModel):
    """The paying entity. SAP's mock serves no company-code API, so finsync keeps this
    register in configuration (see settings.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    company_code: str
    name: str
    country: str
    currency: str
    allowed_currencies: list[str] = []

    def accepts(self, currency: str) -> bool:
        return currency == self.currency or currency in self.allowed_currencies
