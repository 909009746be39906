"""The payee check at reservation (VendorSyncActivities.check_vendor_account) against a real
vendor store: one narrow read of the account about to be paid, judged as the whole vendor
record was judged before (known or not, same fingerprint or not, the store's mask)."""

from datetime import UTC, datetime

import pytest

from activities.vendor_sync import VendorSyncActivities
from adapters.treasury_store import TreasuryStore
from adapters.vendor_store import VendorStore
from canonical.vendors import VendorAccountCheck, VendorBankAccount, VendorRecord, fingerprint, mask

KEY = b"k" * 32
OLD, NEW = "DE89370400440532013000", "DE02120300000000202051"


def _sync(vendors: VendorStore, sync_key: str, iban: str, deleted: list[str] | None = None) -> None:
    account = VendorBankAccount(bank_account_id="0001", country="DE", masked=mask(iban),
                                fingerprint=fingerprint(iban, KEY), has_iban=True)
    vendors.apply(sync_key, [VendorRecord(supplier_id="1000013", name="ACME")], deleted or [],
                  {"1000013": [account]}, None, None, datetime.now(UTC))


@pytest.fixture
def checks(store: TreasuryStore) -> tuple[VendorSyncActivities, VendorStore]:
    vendors = VendorStore(store.engine)
    return VendorSyncActivities(None, None, vendors, None, KEY), vendors  # type: ignore[arg-type]


async def test_the_account_about_to_be_paid_is_judged_against_the_last_sync(checks):
    activities, vendors = checks

    async def check(iban: str, supplier_id: str = "1000013", account_id: str = "0001"):
        return await activities.check_vendor_account(
            VendorAccountCheck(supplier_id=supplier_id, bank_account_id=account_id, payee_iban=iban))

    unknown = await check(OLD)  # no sync has seen the supplier: nothing to compare with
    assert not unknown.known and unknown.matches and unknown.account_fingerprint == fingerprint(OLD, KEY)

    _sync(vendors, "s1", OLD)
    same = await check(OLD)
    assert same.known and same.matches and same.store_masked == mask(OLD)
    assert not (await check(OLD, account_id="0002")).known  # another account of the supplier
    assert not (await check(OLD, supplier_id="1000014")).known

    _sync(vendors, "s2", NEW)  # the ERP's account changed, and the sync saw it
    changed = await check(OLD)
    assert changed.known and not changed.matches and changed.store_masked == mask(NEW)
    assert changed.account_fingerprint == fingerprint(OLD, KEY)
    assert (await check(NEW)).matches
