"""The file-drop channel (adapters/bank_file_drop.py) against a real mock-bank reading its drop
directory and writing its pickup directory: a file delivered once whatever is resent, each
answer recorded once whatever crashes when, under the same id as the bank's HTTP copy."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.bank_errors import BankTransientError
from adapters.bank_file_drop import DONE, NOT_READ, BankFileDrops, FileDrop, PickupDirectory, file_name, pick_up
from adapters.payment_registers import PaymentRegisters
from adapters.treasury_store import TreasuryStore
from canonical.bank import BankMessage, MessageKind, PayingAccount
from tests.adapters.fixtures.capture import CLOCK, FOUR, payment_file
from tests.file_drop_bank import DropBank, drop_bank
from tests.harness.bank import HarnessBankClient

FOUR_XML = payment_file("ACME-20260930-0001", FOUR)


class Crash(Exception):
    """A worker dying at this point (tests/test_file_drop_channel.py kills a real process)."""


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[DropBank]:
    with drop_bank(tmp_path / "bank", CLOCK) as running:
        yield running


@pytest.fixture
def registers(tmp_path: Path) -> PaymentRegisters:
    return PaymentRegisters(TreasuryStore(f"sqlite:///{tmp_path / 'treasury.db'}").engine)


def drops_of(bank: DropBank) -> BankFileDrops:
    return BankFileDrops({"ACME": bank.account()})


async def test_a_file_is_delivered_once_and_its_answer_recorded_once_under_the_http_copys_id(bank, registers):
    drops = drops_of(bank)
    drop = drops.drop_for("ACME")
    assert drop is not None and not drops.reads_http
    receipt = await drop.submit_payment_file("ACME-20260930-0001", FOUR_XML)
    assert receipt.message_id == "ACME-20260930-0001" and not receipt.duplicate
    [status_file] = bank.wait_for_pickup("pain.002")  # the bank read it: answered through the pickup directory
    # Filed by the bank under processed/ (two payments rejected: its findings beside it); a resend
    # (a crash before SENT was recorded) finds it there.
    assert sorted(p.name for p in (bank.drop_dir / "processed").iterdir()) == [
        "ACME-20260930-0001.xml", "ACME-20260930-0001.xml.findings.txt"]
    again = await drop.submit_payment_file("ACME-20260930-0001", FOUR_XML)
    assert again.duplicate and again.message_id == "ACME-20260930-0001"
    assert sorted(p.name for p in bank.drop_dir.iterdir()) == ["failed", "processed"]  # nothing new, no temp file
    assert (bank.drop_dir / "processed" / "ACME-20260930-0001.xml").read_bytes() == FOUR_XML

    assert drops.pick_up(registers.record_bank_messages) == 1
    assert bank.waiting() == [] and bank.done() == [status_file]
    assert drops.pick_up(registers.record_bank_messages) == 0
    [recorded] = registers.unapplied_messages()
    assert recorded.kind is MessageKind.STATUS_REPORT and recorded.account == "ACME"
    assert "ACME-20260930-0001" in recorded.body
    # Both channels get a copy: the HTTP one has the same id, so reading both counts it once.
    async with HarnessBankClient(bank.url) as http:
        [copy] = await http.peek_mailbox()
    assert copy.bank_message_id == recorded.bank_message_id and copy.body == recorded.body
    assert registers.record_bank_messages([copy]) == 0


async def test_a_crash_before_or_after_recording_leaves_the_message_recorded_and_applied_once(bank, registers):
    await FileDrop(bank.drop_dir).submit_payment_file("ACME-20260930-0001", FOUR_XML)
    [name] = bank.wait_for_pickup("pain.002")
    directory = PickupDirectory(bank.pickup_dir)

    def dies(messages: list[BankMessage]) -> int:
        raise Crash("killed between reading the file and recording it")

    with pytest.raises(Crash):
        pick_up(directory, dies)
    assert bank.waiting() == [name] and registers.unapplied_messages() == []

    class DiesBeforeFilingAway(PickupDirectory):
        def file_away(self, picked) -> None:
            raise Crash("killed between recording the file and moving it to done/")

    with pytest.raises(Crash):
        pick_up(DiesBeforeFilingAway(bank.pickup_dir), registers.record_bank_messages)
    [recorded] = registers.unapplied_messages()
    assert bank.waiting() == [name]  # still there: read again at the next start
    registers.mark_applied(recorded.bank_message_id, None)  # the inbox acted on it meanwhile

    assert pick_up(directory, registers.record_bank_messages) == 0  # known: not recorded, not applied again
    assert registers.unapplied_messages() == [] and bank.waiting() == [] and bank.done() == [name]
    assert registers.known_message_ids([recorded.bank_message_id]) == {recorded.bank_message_id}


def test_files_finsync_does_not_read_go_aside_and_files_being_written_stay(tmp_path, registers):
    pickup = tmp_path / "out"
    pickup.mkdir()
    (pickup / "welcome-ACME-7.txt").write_text("Dear customer, ...\n")
    (pickup / "garbage.bin").write_bytes(b"\xff\xfe\x00binary")
    (pickup / "camt.054.001.08-ACME-8.xml.tmp").write_text("<half")
    assert pick_up(PickupDirectory(pickup), registers.record_bank_messages) == 0
    assert sorted(p.name for p in (pickup / NOT_READ).iterdir()) == ["garbage.bin", "welcome-ACME-7.txt"]
    assert [p.name for p in pickup.iterdir() if p.is_file()] == ["camt.054.001.08-ACME-8.xml.tmp"]
    assert not (pickup / DONE).exists()


async def test_two_workers_sending_one_file_at_once_write_it_once(tmp_path):
    drop = FileDrop(tmp_path)
    receipts = await asyncio.gather(*(drop.submit_payment_file("FS-ACME/2026-09-30/1-01", FOUR_XML)
                                      for _ in range(4)))
    assert sorted(r.duplicate for r in receipts) == [False, True, True, True]
    assert [p.name for p in tmp_path.iterdir()] == [file_name("FS-ACME/2026-09-30/1-01")] == \
        ["FS-ACME_2026-09-30_1-01.xml"]


async def test_a_missing_share_is_an_outage_not_a_refusal(tmp_path, registers):
    with pytest.raises(BankTransientError, match="drop directory"):
        await FileDrop(tmp_path / "not-mounted").submit_payment_file("ACME-1", FOUR_XML)
    with pytest.raises(BankTransientError, match="pickup directory"):
        pick_up(PickupDirectory(tmp_path / "not-mounted"), registers.record_bank_messages)


def test_a_file_drop_account_names_both_directories():
    with pytest.raises(ValueError, match="drop_dir"):
        PayingAccount(account_id="ACME", name="ACME", iban="NL41MOCK0000000001", company_code="1710",
                      currency="EUR", channel="file-drop", drop_dir="/srv/bank/in")
    both = BankFileDrops({"ACME": PayingAccount(account_id="ACME", name="ACME", iban="NL41MOCK0000000001",
                                                company_code="1710", currency="EUR"),
                          "DE": PayingAccount(account_id="DE", name="DE", iban="DE89370400440532013000",
                                              company_code="2710", currency="EUR", channel="file-drop",
                                              drop_dir="/srv/bank/in", pickup_dir="/srv/bank/out")})
    assert both.reads_http and both.accounts == {"DE"} and both.drop_for("ACME") is None
