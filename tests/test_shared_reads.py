"""Identical reads asked together are served by one read that started after each asked
(activities/shared_reads.py), and the near-duplicate check's ERP read uses it. Fakes only: the
real-server near-duplicate tests (test_near_duplicates.py) run the same path against mock-sap."""

import asyncio
from decimal import Decimal
from types import SimpleNamespace

import pytest

from activities.duplicate_search import DuplicateSearch
from activities.shared_reads import SharedReads
from canonical.duplicates import OtherInvoice
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
