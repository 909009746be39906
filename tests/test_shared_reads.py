"""Identical reads asked together are served by one read that started after each asked
(activities/shared_reads.py); the near-duplicate check's ERP read and the payee check at
reservation use it. Fakes only: the real-server near-duplicate tests (test_near_duplicates.py)
and payment-run tests run the same paths against mock-sap and the treasury store."""

import asyncio
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest

from activities.duplicate_search import DuplicateSearch
from activities.shared_reads import SharedReads
from activities.vendor_sync import VendorSyncActivities
from canonical.duplicates import OtherInvoice
from canonical.vendors import VendorAccountCheck, VendorBankAccount, VendorRecord, fingerprint, mask
from tests.helpers import make_invoice


class _Reader:
    """Counts reads and when each started; every read takes 50 ms."""

    def __init__(self, fail_first: bool = False) -> None:
        self.started: list[tuple[object, float]] = []
        self._fail_first = fail_first

    async def read(self, key: object) -> int:
        self.started.append((key, asyncio.get_running_loop().time()))
        number = len(self.started) - 1
        await asyncio.sleep(0.05)
        if self._fail_first and number == 0:
            raise ConnectionError("first read failed")
        return number


async def _ask(reads: SharedReads, key: object, delay: float) -> tuple[float, int]:
    await asyncio.sleep(delay)
    asked = asyncio.get_running_loop().time()
    return asked, await reads.get(key)


async def test_a_burst_of_one_question_costs_a_handful_of_reads_each_fresher_than_its_question():
    reader = _Reader()
    reads = SharedReads(reader.read)
    answers = await asyncio.gather(*(_ask(reads, "1000013", i * 0.002) for i in range(100)))
    assert 2 <= len(reader.started) <= 6, reader.started
    assert all(reader.started[number][1] >= asked for asked, number in answers)


async def test_different_questions_are_read_apart_and_at_most_parallel_at_once():
    reader = _Reader()
    reads = SharedReads(reader.read, parallel=2)
    await asyncio.gather(*(_ask(reads, key, 0) for key in ("a", "b", "c", "a")))
    assert sorted(key for key, _ in reader.started) == ["a", "b", "c"]
    third = sorted(at for _, at in reader.started)[2]
    assert third - min(at for _, at in reader.started) >= 0.045  # the third waited for a free slot


async def test_a_failed_read_fails_only_its_round_and_the_next_asker_reads_again():
    reader = _Reader(fail_first=True)
    reads = SharedReads(reader.read)
    first = await asyncio.gather(*(reads.get("k") for _ in range(3)), return_exceptions=True)
    assert all(isinstance(answer, ConnectionError) for answer in first)
    assert await reads.get("k") == 1 and len(reader.started) == 2


class _Erp:
    def __init__(self) -> None:
        self.reads: list[tuple] = []

    async def invoices_of_amount(self, supplier_id: str, company_code: str, amount: Decimal, currency: str):
        self.reads.append((supplier_id, company_code, amount, currency))
        await asyncio.sleep(0.05)
        return [OtherInvoice(source="erp", document=f"510000{len(self.reads)}/2026", reference="INV-7",
                             gross_amount=amount, currency=currency)]


@pytest.mark.parametrize("amounts", [("1190.00",) * 40, ("1190.00", "1190.01") * 20])
async def test_near_duplicate_checks_of_one_supplier_and_amount_share_their_erp_reads(amounts):
    erp = _Erp()
    search = DuplicateSearch(SimpleNamespace(), SimpleNamespace(for_company=lambda _: erp), "reference")  # type: ignore[arg-type]
    invoices = [make_invoice(ref=f"INV{n}", gross_amount=amount, tax_amount=str(Decimal(amount) - 1000))
                for n, amount in enumerate(amounts)]
    found = await asyncio.gather(*(search.possible_duplicates_in_erp(inv) for inv in invoices))
    questions = {(r[2], r[3]) for r in erp.reads}
    assert questions == {(Decimal(a), "EUR") for a in set(amounts)}
    assert len(erp.reads) <= 3 * len(questions)  # 40 checks: a handful of reads per question
    # Each check still judges the ERP's answer for itself: INV7 matches INV-7 loosely, the others do not.
    assert [bool(f) for f in found] == [inv.supplier_invoice_ref == "INV7" for inv in invoices]


async def test_a_runs_payee_checks_share_vendor_store_reads_and_see_a_change_made_before_they_asked():
    """A payment run checks each payee at reservation (check_vendor_account): a thousand checks
    of a few suppliers need not read the store a thousand times, but a check that asks after a
    vendor sync changed the account must see the change."""
    key = b"k" * 32
    account = lambda iban: VendorBankAccount(bank_account_id="0001", masked=mask(iban),  # noqa: E731
                                             fingerprint=fingerprint(iban, key))
    store = SimpleNamespace(reads=0, iban="DE89370400440532013000")

    def vendor(supplier_id: str) -> VendorRecord:
        store.reads += 1
        time.sleep(0.02)  # a store read (in a thread, as the activity does)
        return VendorRecord(supplier_id=supplier_id, name="ACME", bank_accounts=[account(store.iban)])

    checks = VendorSyncActivities(None, None, SimpleNamespace(vendor=vendor), None, key)  # type: ignore[arg-type]
    ask = lambda iban: checks.check_vendor_account(  # noqa: E731
        VendorAccountCheck(supplier_id="1000013", bank_account_id="0001", payee_iban=iban))
    verdicts = await asyncio.gather(*(ask("DE89370400440532013000") for _ in range(100)))
    assert all(v.known and v.matches for v in verdicts) and store.reads <= 3

    store.iban = "DE02120300000000202051"  # the sync saw the ERP's account change
    [changed] = await asyncio.gather(ask("DE89370400440532013000"))
    assert changed.known and not changed.matches and changed.store_masked == mask("DE02120300000000202051")
