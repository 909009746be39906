"""The master-data reads of the validation against master data (activities/erp.py), through the
worker process's MasterDataCache (adapters/master_data_cache.py).

A cached supplier is served only when the invoice passes against it and nothing says it is older
than what it would decide:
- a refusal is never decided from memory: the ERP is read again, and its answer decides;
- the vendor store (what the last vendor sync stored, shared by every replica) holds an account
  of the supplier whose fingerprint the cached one does not match, an account the cached one
  lacks, or another blocked flag: read again. So once any replica's sync has stored a bank
  change, no replica validates against the account from before it, whatever its TTL; and the
  replica that ran the sync drops its changed suppliers at once (VendorSyncActivities).
The account finally paid is still checked against the vendor store at reservation
(check_vendor_account reads the store, never this cache: architecture invariant 9)."""

import asyncio
from collections.abc import Callable

from adapters.erp_port import ErpPort
from adapters.master_data_cache import MasterDataCache
from adapters.vendor_store import VendorStore
from canonical.supplier import CompanyCode, Supplier, SupplierBankAccount
from canonical.vendors import VendorRecord, fingerprint, legacy_fingerprint


def account_ident(account: SupplierBankAccount) -> str:
    """What a fingerprint is taken of (as activities/vendor_sync.py check_account takes it)."""
    return account.iban or " ".join(filter(None, [account.bank_number, account.account_number]))


def older_than_store(supplier: Supplier, record: VendorRecord | None, fingerprint_key: bytes) -> bool:
    """Whether the vendor store knows of a change the cached supplier does not show."""
    if record is None:  # a supplier the sync does not mirror (another ERP's): the TTL bounds it
        return False
    if record.is_blocked != supplier.is_blocked:
        return True
    ours = {a.bank_account_id: a for a in supplier.bank_accounts}
    for stored in record.bank_accounts:
        account = ours.get(stored.bank_account_id)
        if account is None:
            return True
        if stored.fingerprint is None:
            continue
        ident = account_ident(account)
        if not ident or stored.fingerprint not in (fingerprint(ident, fingerprint_key), legacy_fingerprint(ident)):
            return True
    return False


class MasterDataReads:
    def __init__(self, cache: MasterDataCache | None = None, store: VendorStore | None = None,
                 fingerprint_key: bytes = b"") -> None:
        """No cache: every read goes to the ERP (as before there was one). `store`, the vendor
        store, with the key of its fingerprints: the check above."""
        self._cache, self._store, self._fingerprint_key = cache, store, fingerprint_key

    async def supplier(self, erp: ErpPort, supplier_id: str, passes: Callable[[Supplier], bool]) -> Supplier | None:
        """`passes`: whether the invoice passes the checks against this supplier. Only a passing
        cached answer is served: a refusal (unknown, blocked, no such account, an e-invoice's
        account it lacks) is always the ERP's answer of now, so fixing master data and resolving
        the case is never refused again from memory."""
        if self._cache is None:
            return await erp.get_supplier(supplier_id)

        async def keep(cached: Supplier | None) -> bool:
            if cached is None or not passes(cached):
                return False
            if self._store is None:
                return True
            record = await asyncio.to_thread(self._store.vendor, supplier_id)
            return not older_than_store(cached, record, self._fingerprint_key)

        return await self._cache.get(("supplier", erp.name, supplier_id), lambda: erp.get_supplier(supplier_id),
                                     keep)

    async def company_code(self, erp: ErpPort, company_code: str, currency: str) -> CompanyCode | None:
        """A company code that pays in `currency` may be served from the cache (as a supplier above)."""
        if self._cache is None:
            return await erp.get_company_code(company_code)

        async def keep(cached: CompanyCode | None) -> bool:
            return cached is not None and cached.accepts(currency)

        return await self._cache.get(("company", erp.name, company_code), lambda: erp.get_company_code(company_code),
                                     keep)
