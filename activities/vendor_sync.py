"""Vendor master sync activities. One activity reads SAP, validates and stores, so full IBANs
stay inside it: what it returns (counts, masked issues, masked changes) is all the workflow
and its history ever see, whatever the number of suppliers. A retry is harmless: the store's
writes are idempotent and the bank changes are answered from the store's log of this sync."""

import asyncio
from datetime import UTC, datetime

from pydantic import BaseModel
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from temporalio import activity
from temporalio.client import Client

from activities.errors import business_error, transient_error
from adapters.erp_errors import ErpBusinessError, ErpTransientError
from adapters.erp_port import SupplierDeltaLike, SupplierMasterFeed
from adapters.lifecycle_outbox import LifecycleOutbox
from adapters.master_data_cache import MasterDataCache
from adapters.vendor_store import VendorStore
from canonical.inbox import LifecycleSignal
from canonical.masking import mask_bank_details
from canonical.supplier import SupplierBankAccount
from canonical.vendors import (
    BankChangeNotice,
    VendorAccountCheck,
    VendorAccountVerdict,
    VendorBankAccount,
    VendorIssue,
    VendorIssueKind,
    VendorRecord,
    VendorSyncResult,
    find_duplicates,
    fingerprint,
    legacy_fingerprint,
    mask,
)
from workflows import search_attributes as sa

LIFECYCLE_TYPE = "InvoiceToPayment"  # the lifecycle workflow's public name
SIGNAL = "bank_details_changed"
_IDS_PER_QUERY = 50
_MAX_IDS_IN_RESULT = 200


class VendorSyncInput(BaseModel):
    sync_key: str  # the workflow run: the bank changes it detected are logged under it
    full: bool = False


def check_account(supplier_id: str, account: SupplierBankAccount,
                  fingerprint_key: bytes, changers: dict[str, str] | None = None
                  ) -> tuple[VendorBankAccount, list[VendorIssue]]:
    """schwifty checks what SAP does not: SAP only checks the mod-97 digits, so an NL IBAN of
    the wrong length passes SAP and fails here. Messages are masked: they reach the Web UI."""
    changers = changers or {}
    ident = account.iban or " ".join(filter(None, [account.bank_number, account.account_number]))
    masked = mask(account.iban or account.account_number)
    issues, iban_valid = [], None

    def issue(kind: VendorIssueKind, err: str) -> None:
        # schwifty quotes the BBAN it refuses (its "Invalid BBAN structure: '...'").
        text = mask_bank_details(err, account.iban, account.account_number, account.bank_number)
        issues.append(VendorIssue(kind=kind, supplier_ids=[supplier_id], bank_account_id=account.bank_account_id,
                                  detail=f"bank account {account.bank_account_id} ({masked}) of supplier "
                                         f"{supplier_id}: {text}"))

    iban = None
    if account.iban:
        try:
            iban = IBAN(account.iban)
            iban_valid = True
        except SchwiftyException as e:
            iban_valid = False
            issue(VendorIssueKind.INVALID_IBAN, f"IBAN {type(e).__name__}: {e}")
    if account.bic:
        try:
            bic = BIC(account.bic)
            if iban is not None and bic.country_code != iban.country_code:
                issue(VendorIssueKind.INVALID_BIC, f"the BIC is in {bic.country_code}, the IBAN in {iban.country_code}")
        except SchwiftyException as e:
            issue(VendorIssueKind.INVALID_BIC, f"BIC {account.bic}: {e}")  # a BIC names a bank, not an account
    vendor_account = VendorBankAccount(
        bank_account_id=account.bank_account_id, country=account.country, masked=masked,
        fingerprint=fingerprint(ident, fingerprint_key) if ident else None,
        legacy_fingerprint=legacy_fingerprint(ident) if ident else None, has_iban=bool(account.iban),
        iban_valid=iban_valid,
        swift=account.bic, changed_by=(changers or {}).get(account.bank_account_id))
    return vendor_account, issues


class VendorSyncActivities:
    def __init__(self, client: Client, feed: SupplierMasterFeed, store: VendorStore, outbox: LifecycleOutbox,
                 fingerprint_key: bytes, master_data_cache: MasterDataCache | None = None) -> None:
        """`feed`: the ERP whose supplier master the vendor store mirrors (an ERP port with the
        optional SupplierMasterFeed capability; SAP's change log). `master_data_cache`: this
        process's cache of master data, whose entries of the suppliers a sync sees change it drops."""
        self._client, self._feed, self._store, self._outbox = client, feed, store, outbox
        self._fingerprint_key = fingerprint_key
        self._master_data_cache = master_data_cache

    @activity.defn
    async def sync_vendor_master(self, request: VendorSyncInput) -> VendorSyncResult:
        token = None if request.full else await asyncio.to_thread(self._store.delta_token)
        result = VendorSyncResult()
        try:
            try:
                delta = await self._feed.read_suppliers(token)
            except ErpBusinessError as e:
                if not token:
                    raise
                # Expired or foreign token (e.g. the ERP was restored): a full read is always right.
                activity.logger.warning("SAP refused the supplier delta token (%s); reading every supplier", e.message)
                result.delta_refused = True
                delta = await self._feed.read_suppliers(None)
            changers: dict[tuple[str, str], str] = {}  # where the ERP's records name who changed a row
            banks = await self._feed.read_bank_accounts(changers)
            vat_ids = await self._feed.read_vat_ids()
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable for the vendor master sync: {e}", e.retry_after) from e
        except ErpBusinessError as e:  # the same read will be refused again
            raise business_error("ErpRefusedVendorRead", e.message) from e
        checked = await asyncio.to_thread(self._store_and_check, request.sync_key, delta, banks, vat_ids, result,
                                          changers)
        if self._master_data_cache is not None:
            if delta.token_used:  # a delta names what changed since the last sync
                self._master_data_cache.invalidate(
                    {s.supplier_id for s in delta.suppliers} | set(delta.deleted_ids)
                    | {c.supplier_id for c in checked.bank_changes})
            else:  # a full read: anything may have changed
                self._master_data_cache.clear()
        return checked

    def _store_and_check(self, sync_key: str, delta: SupplierDeltaLike, banks: dict[str, list[SupplierBankAccount]],
                         vat_ids: dict[str, str] | None, result: VendorSyncResult,
                         changers: dict[tuple[str, str], str]) -> VendorSyncResult:
        accounts: dict[str, list[VendorBankAccount]] = {}
        invalid: dict[str, list[VendorIssue]] = {}
        for supplier_id, rows in banks.items():
            for row in rows:
                account, issues = check_account(
                    supplier_id, row, self._fingerprint_key,
                    {b: who for (bp, b), who in changers.items() if bp == supplier_id})
                accounts.setdefault(supplier_id, []).append(account)
                invalid.setdefault(supplier_id, []).extend(issues)
        records = [VendorRecord(supplier_id=s.supplier_id, name=s.name, is_blocked=s.is_blocked)
                   for s in delta.suppliers]
        changed, bank_changes = self._store.apply(sync_key, records, delta.deleted_ids, accounts, vat_ids,
                                                  delta.next_token, datetime.now(UTC))
        vendors = self._store.vendors()
        # Only suppliers' accounts count: SAP also holds customers' and orphaned bank rows.
        own = [i for v in vendors for i in invalid.get(v.supplier_id, [])]
        ids = sorted(s.supplier_id for s in delta.suppliers)
        return result.model_copy(update=dict(
            suppliers_read=len(ids), supplier_ids_read=ids[:_MAX_IDS_IN_RESULT], suppliers_changed=changed,
            suppliers_deleted=len(delta.deleted_ids), bank_accounts_read=sum(len(v.bank_accounts) for v in vendors),
            delta_token_used=delta.token_used, vat_ids_offered=vat_ids is not None,
            issues=own + find_duplicates(vendors), bank_changes=bank_changes))

    @activity.defn
    async def check_vendor_account(self, check: VendorAccountCheck) -> VendorAccountVerdict:
        """The account a lifecycle is about to pay against the vendor store's fingerprint of it: a
        difference means the ERP's account changed since the last sync saw it (architecture
        invariant 9: only fingerprints and masks leave this activity)."""
        stored = await asyncio.to_thread(self._store.stored_account, check.supplier_id, check.bank_account_id)
        stored_fingerprint, stored_masked = stored or (None, None)
        paid = fingerprint(check.payee_iban, self._fingerprint_key)
        if stored_fingerprint is None:
            return VendorAccountVerdict(known=False, matches=True, account_fingerprint=paid)
        same = stored_fingerprint in (paid, legacy_fingerprint(check.payee_iban))  # a sync before keying wrote bare
        return VendorAccountVerdict(known=True, matches=same, account_fingerprint=paid, store_masked=stored_masked)

    @activity.defn
    async def queue_bank_change_signals(self, notice: BankChangeNotice) -> int:
        """One `bank_details_changed` (masked values only) per change to every running lifecycle
        of its supplier, queued in the treasury store's outbox under `notice.batch_key` for
        activities.lifecycle_delivery to send. Idempotent: a retry keeps the first batch."""
        lifecycles = await self._running_lifecycles_of(sorted({c.supplier_id for c in notice.changes}))
        signals = [LifecycleSignal(workflow_id=workflow_id, signal=SIGNAL, argument=change.model_dump(mode="json"))
                   for change in notice.changes for workflow_id in lifecycles.get(change.supplier_id, [])]
        return await asyncio.to_thread(self._outbox.queue, notice.batch_key, signals) if signals else 0

    async def _running_lifecycles_of(self, supplier_ids: list[str]) -> dict[str, list[str]]:
        """The running InvoiceToPayment workflows of each supplier, from visibility (their
        SupplierId search attribute)."""
        found: dict[str, list[str]] = {}
        listable = sorted({s for s in supplier_ids if "'" not in s and "\\" not in s})  # query-string safe
        for start in range(0, len(listable), _IDS_PER_QUERY):
            ids = ", ".join(f"'{s}'" for s in listable[start:start + _IDS_PER_QUERY])
            query = f"WorkflowType='{LIFECYCLE_TYPE}' AND SupplierId IN ({ids}) AND ExecutionStatus='Running'"
            async for ex in self._client.list_workflows(query):
                supplier = ex.typed_search_attributes.get(sa.SUPPLIER_ID)
                if supplier:
                    found.setdefault(supplier, []).append(ex.id)
            activity.heartbeat(start)
        return {s: sorted(set(ids)) for s, ids in sorted(found.items())}
