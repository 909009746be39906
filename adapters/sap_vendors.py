"""Supplier master data from SAP for the vendor master sync (guides/mock-sap.md §3).

Suppliers come as a delta where SAP offers one (`Prefer: odata.track-changes` → `__delta`
with `!deltatoken`; the first read is full). Bank details have no change timestamp, and a
bank change does not move the BP's LastChangeDate, so A_BusinessPartnerBank is read in full
every time (it is small). Through SapClient's private hooks, like adapters/sap_payments.py:
one CSRF cache, one translation of SAP's errors."""

import logging
import re
from urllib.parse import quote

from pydantic import BaseModel

from adapters.sap import SapClient
from adapters.sap_errors import SapBusinessError
from adapters.sap_odata import BUSINESS_PARTNER_SRV, to_supplier
from canonical.supplier import Supplier, SupplierBankAccount

log = logging.getLogger(__name__)

SUPPLIERS = f"{BUSINESS_PARTNER_SRV}/A_BusinessPartner"
BANKS = f"{BUSINESS_PARTNER_SRV}/A_BusinessPartnerBank"
TAX_NUMBERS = f"{BUSINESS_PARTNER_SRV}/A_BusinessPartnerTaxNumber"
_SUPPLIER_QUERY = {
    "$filter": "Supplier ne ''",
    "$select": "BusinessPartner,Supplier,BusinessPartnerFullName,BusinessPartnerName,BusinessPartnerIsBlocked",
}
_TOKEN = re.compile(r"!deltatoken=('?[^&']+'?)")
_DELETED_KEY = re.compile(r"A_BusinessPartner\('((?:[^']|'')*)'\)")


class SupplierDelta(BaseModel):
    suppliers: list[Supplier]  # without bank accounts: those come from read_bank_accounts
    deleted_ids: list[str] = []
    next_token: str | None = None  # where the next read starts; None if SAP offered no delta
    token_used: str | None = None  # None: this was a full read


class SapVendors:
    def __init__(self, sap: SapClient):
        self._sap = sap

    async def read_suppliers(self, delta_token: str | None = None) -> SupplierDelta:
        """Every supplier (no token), or those changed since the token was issued, deletions
        included. At least once (SAP compares with >=): apply idempotently. A token SAP no
        longer accepts is a SapBusinessError (400): read in full then."""
        query = "&".join(f"{k}={quote(v, safe=',')}" for k, v in _SUPPLIER_QUERY.items())
        if delta_token:
            # Spelled as SAP wrote it in __delta (quotes and all), not re-encoded.
            rows, delta_link = await self._sap.read_all(f"{SUPPLIERS}?{query}&!deltatoken={delta_token}")
        else:
            rows, delta_link = await self._sap.read_all(f"{SUPPLIERS}?{query}",
                                                        headers={"Prefer": "odata.track-changes"})
        suppliers, deleted = [], []
        for row in rows:
            if row.get("__metadata", {}).get("deleted"):
                if match := _DELETED_KEY.search(row["__metadata"].get("uri", "")):
                    deleted.append(match.group(1).replace("''", "'"))
            elif supplier := to_supplier(row):
                suppliers.append(supplier)
        match = _TOKEN.search(delta_link or "")
        token = match.group(1) if match else None
        if delta_link is None:
            log.warning("SAP offered no delta link for suppliers: every sync will read them in full")
        return SupplierDelta(suppliers=suppliers, deleted_ids=sorted(deleted), next_token=token, token_used=delta_token)

    async def read_bank_accounts(self, changers: dict[tuple[str, str], str] | None = None
                                 ) -> dict[str, list[SupplierBankAccount]]:
        """Every bank account of every business partner, by BP (= supplier id for suppliers).
        The caller keeps those of suppliers it knows: SAP also holds customers' accounts and
        accepts bank rows for partners that do not exist. `changers` gets (BP, bank id) -> the
        ERP user who last changed the row, where the ERP's record names one (`LastChangedByUser`,
        as SAP names it on the business partner); mock-sap keeps none for bank rows."""
        rows, _ = await self._sap.read_all(BANKS)
        accounts: dict[str, list[SupplierBankAccount]] = {}
        for row in rows:
            if changers is not None and row.get("LastChangedByUser"):
                changers[(row["BusinessPartner"], row["BankIdentification"])] = row["LastChangedByUser"]
            accounts.setdefault(row["BusinessPartner"], []).append(SupplierBankAccount(
                bank_account_id=row["BankIdentification"],
                country=_country(row),
                # ABAP has no null: an unset field is "" and means "none" here.
                holder_name=row.get("BankAccountHolderName") or None,
                iban=row.get("IBAN") or None,
                bic=row.get("SWIFTCode") or None,
                account_number=row.get("BankAccount") or None,
                bank_number=row.get("BankNumber") or None,
            ))
        return {bp: sorted(rows, key=lambda a: a.bank_account_id) for bp, rows in accounts.items()}

    async def read_vat_ids(self) -> dict[str, str] | None:
        """VAT registration numbers by BP, from A_BusinessPartnerTaxNumber; None where SAP does
        not serve it (mock-sap answers 404). Tax types ending in 0 are SAP's VAT registration
        numbers (DE0, NL0, ...); the others are national tax numbers, not VAT ids."""
        try:  # every BP's numbers, across the gateway's own pages
            rows, _ = await self._sap.read_all(TAX_NUMBERS, {"$select": "BusinessPartner,BPTaxType,BPTaxNumber"})
        except SapBusinessError as e:
            if e.status == 404:
                return None
            raise
        return {
            row["BusinessPartner"]: row["BPTaxNumber"]
            for row in sorted(rows, key=lambda r: (r["BusinessPartner"], r["BPTaxType"]))
            if row.get("BPTaxType", "").endswith("0") and row.get("BPTaxNumber")
        }


def _country(row: dict) -> str:
    """The bank's country; SAP allows it empty, our model wants two letters ("XX": unknown)."""
    country = (row.get("BankCountryKey") or (row.get("IBAN") or "")[:2]).strip().upper()
    return country[:2] if len(country) >= 2 else "XX"
