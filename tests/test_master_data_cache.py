"""The worker's read-through cache of ERP master data (adapters/master_data_cache.py) and what
the validation may serve from it (activities/supplier_master.py), without servers: TTL, bound,
invalidation, one read per burst, refusals read fresh, the vendor store's word on bank changes.
tests/test_master_data_reads.py checks it against mock-sap and the vendor sync."""

import asyncio

import pytest

from activities.supplier_master import MasterDataReads, older_than_store
from adapters.master_data_cache import MasterDataCache
from canonical.supplier import Supplier, SupplierBankAccount
from canonical.vendors import VendorBankAccount, VendorRecord, fingerprint

KEY = b"test fingerprint key"
IBAN, NEW_IBAN = "NL91ABNA0417164300", "NL20INGB0001234567"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Reads:
    """An ERP read that counts its calls and answers what `value` holds now."""

    def __init__(self, value: object = "v1") -> None:
        self.value, self.calls = value, 0

    async def __call__(self) -> object:
        self.calls += 1
        await asyncio.sleep(0.01)
        return self.value


def supplier(iban: str = IBAN, blocked: bool = False, accounts: tuple[str, ...] = ("0001",)) -> Supplier:
    return Supplier(supplier_id="1000010", name="Acme Pumps", is_blocked=blocked, bank_accounts=[
        SupplierBankAccount(bank_account_id=a, iban=iban, bic="ABNANL2A", country="NL", holder_name="Acme Pumps")
        for a in accounts])


def record(iban: str = IBAN, blocked: bool = False) -> VendorRecord:
    return VendorRecord(supplier_id="1000010", name="Acme Pumps", is_blocked=blocked, bank_accounts=[
        VendorBankAccount(bank_account_id="0001", country="NL", fingerprint=fingerprint(iban, KEY))])


async def test_an_entry_is_served_until_its_ttl_then_read_again() -> None:
    clock, read = Clock(), Reads()
    cache = MasterDataCache(ttl_seconds=60, max_entries=10, clock=clock)
    key = ("supplier", "sap", "1000010")
    assert await cache.get(key, read) == "v1"
    read.value = "v2"
    clock.now += 59.9
    assert await cache.get(key, read) == "v1" and read.calls == 1
    clock.now += 0.1
    assert await cache.get(key, read) == "v2" and read.calls == 2
    assert (cache.reads, cache.hits) == (2, 1)


async def test_a_burst_of_one_supplier_reads_it_once_and_a_failed_read_is_not_kept() -> None:
    cache, read = MasterDataCache(ttl_seconds=60, max_entries=10), Reads()
    key = ("supplier", "sap", "1000010")
    answers = await asyncio.gather(*(cache.get(key, read) for _ in range(50)))
    assert answers == ["v1"] * 50 and read.calls == 1

    async def failing() -> object:
        raise ConnectionError("SAP down")
    other = ("supplier", "sap", "1000011")
    with pytest.raises(ConnectionError):
        await cache.get(other, failing)
    assert await cache.get(other, read) == "v1" and read.calls == 2


async def test_the_cache_keeps_at_most_max_entries_the_least_recently_used_leave_first() -> None:
    cache, read = MasterDataCache(ttl_seconds=60, max_entries=3), Reads()
    for supplier_id in ["1", "2", "3"]:
        await cache.get(("supplier", "sap", supplier_id), read)
    await cache.get(("supplier", "sap", "1"), read)  # used again: "2" is now the oldest
    await cache.get(("supplier", "sap", "4"), read)
    assert len(cache) == 3 and read.calls == 4
    assert cache.cached(("supplier", "sap", "2")) == (False, None)
    assert cache.cached(("supplier", "sap", "1")) == (True, "v1")


async def test_invalidation_drops_a_suppliers_entries_and_a_read_in_flight_is_not_kept() -> None:
    cache, read = MasterDataCache(ttl_seconds=60, max_entries=10), Reads()
    await cache.get(("supplier", "sap", "1000010"), read)
    await cache.get(("supplier", "tryton", "1000010"), read)
    await cache.get(("supplier", "sap", "1000011"), read)
    assert cache.invalidate(["1000010"]) == 2 and len(cache) == 1
    read.value = "v2"
    assert await cache.get(("supplier", "sap", "1000010"), read) == "v2"

    in_flight = asyncio.create_task(cache.get(("supplier", "sap", "1000012"), read))
    await asyncio.sleep(0)  # the read has started
    cache.invalidate(["1000012"])  # e.g. the sync saw it change meanwhile: the answer may be older
    assert await in_flight == "v2"
    assert cache.cached(("supplier", "sap", "1000012")) == (False, None)
    cache.clear()
    assert len(cache) == 0


async def test_a_ttl_of_zero_reads_the_erp_every_time() -> None:
    cache, read = MasterDataCache(ttl_seconds=0, max_entries=10), Reads()
    for _ in range(3):
        await cache.get(("supplier", "sap", "1000010"), read)
    assert read.calls == 3 and len(cache) == 0


def test_the_vendor_store_says_when_a_cached_supplier_is_older_than_a_bank_change() -> None:
    assert not older_than_store(supplier(), record(), KEY)
    assert not older_than_store(supplier(), None, KEY)  # not mirrored by the sync: the TTL bounds it
    assert older_than_store(supplier(), record(NEW_IBAN), KEY)  # the sync stored another account
    assert older_than_store(supplier(accounts=("0002",)), record(), KEY)  # an account the cache lacks
    assert older_than_store(supplier(), record(blocked=True), KEY)


class Port:
    """The two reads of the ERP port the validation makes."""

    name = "sap"

    def __init__(self, found: Supplier) -> None:
        self.found, self.calls = found, 0

    async def get_supplier(self, supplier_id: str) -> Supplier | None:
        self.calls += 1
        return self.found


class Store:
    def __init__(self, held: VendorRecord | None) -> None:
        self.held = held

    def vendor(self, supplier_id: str) -> VendorRecord | None:
        return self.held


async def test_a_refusal_is_never_decided_from_memory_and_a_stored_bank_change_reads_again() -> None:
    port, store = Port(supplier(blocked=True)), Store(record())
    reads = MasterDataReads(MasterDataCache(60, 10), store, KEY)  # type: ignore[arg-type]

    def passes(s: Supplier) -> bool:
        return not s.is_blocked

    assert (await reads.supplier(port, "1000010", passes)).is_blocked  # type: ignore[arg-type, union-attr]
    port.found = supplier()  # master data unblocked it and resolved the case at once
    assert not (await reads.supplier(port, "1000010", passes)).is_blocked  # type: ignore[arg-type, union-attr]
    assert port.calls == 2
    await reads.supplier(port, "1000010", passes)  # type: ignore[arg-type]
    assert port.calls == 2  # passing: from the cache

    port.found, store.held = supplier(NEW_IBAN), record(NEW_IBAN)  # another replica's sync stored the change
    served = await reads.supplier(port, "1000010", passes)  # type: ignore[arg-type]
    assert served is not None and served.bank_accounts[0].iban == NEW_IBAN and port.calls == 3
