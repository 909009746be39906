"""NACHA for a paying account whose bank format is "nacha": the file builder (fixed-width records,
blocking, control totals, ABA check digits, deterministic bytes) and the readers of what its bank
sends back, against mock-bank's own output (fixtures/capture_nacha.py recaptures it), with the
bank reference register naming every payment and file by our ids again."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.bank import message_kind
from adapters.bank_documents import read_bank_message, read_in_our_terms
from adapters.bank_references import new_row
from adapters.iso20022.pain001 import PaymentFileInvalid
from adapters.iso20022.readers import statement_balances
from adapters.iso20022.xml import UnreadableBankMessage
from adapters.nacha.builder import build_nacha, individual_id, is_individual_id
from adapters.nacha.readers import payment_accounts
from adapters.payment_registers import PaymentRegisters
from adapters.treasury_store import TreasuryStore
from canonical.aba import check_digit, routing_problem
from canonical.bank import BankStatement, MessageKind, PayingAccount, PaymentReturn, PaymentStatusReport
from codec.bank_details import carries_bank_details
from tests.adapters.fixtures.capture_nacha import ACMEUS, NACHA_FILE, payment

FIXTURES = Path(__file__).parent / "fixtures"
PAID, R03, LATER = (p.end_to_end_id for p in NACHA_FILE.payments)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_aba_routing_numbers_carry_their_check_digit():
    assert check_digit("02100002") == 1 and check_digit("99999999") == 2
    assert routing_problem("021000021") is None and routing_problem("011000015") is None
    assert "check digit" in routing_problem("021000022")
    assert "9 digits" in routing_problem("37040044")  # mock-sap's US suppliers: a German bank number
    assert routing_problem(None) == "no ABA routing number"


def test_records_are_94_characters_blocked_in_tens_with_their_control_totals():
    built = build_nacha(NACHA_FILE, "A")
    lines = built.content.decode("ascii").split("\n")
    assert lines[-1] == "" and all(len(line) == 94 for line in lines[:-1])
    records = lines[:-1]
    assert len(records) % 10 == 0
    types = [line[0] for line in records if line != "9" * 94]
    assert types == ["1", "5", "6", "7", "6", "7", "6", "7", "8", "9"]
    header, control = records[0], records[types.index("9")]
    assert header[34:37] == "094" and header[37:39] == "10" and header[33] == "A"  # record size, blocking, modifier
    assert header[3:13] == " 999999992"
    entries = [line for line in records if line[0] == "6"]
    routings = [int(e[3:11]) for e in entries]
    amounts = [int(e[29:39]) for e in entries]
    assert amounts == [119000, 25000, 9999]
    assert all(check_digit(e[3:11]) == int(e[11]) for e in entries)
    batch_control = records[types.index("8")]
    assert int(batch_control[4:10]) == 6  # three entries and their addenda
    assert int(batch_control[10:20]) == sum(routings) % 10 ** 10
    assert int(batch_control[20:32]) == 0 and int(batch_control[32:44]) == sum(amounts)
    assert int(control[1:7]) == 1 and int(control[7:13]) == len(records) // 10  # batches, blocks
    assert int(control[21:31]) == sum(routings) % 10 ** 10 and int(control[43:55]) == sum(amounts)
    one = build_nacha(NACHA_FILE.model_copy(update={"payments": NACHA_FILE.payments[:1]}), "A")
    padded = one.content.decode("ascii").split("\n")[:-1]
    assert len(padded) == 10 and padded[6:] == ["9" * 94] * 4  # 6 records, then nines to fill the block
    assert int(padded[5][7:13]) == 1


def test_the_file_is_a_pure_function_of_the_payment_file_and_names_each_payment_once():
    first, again = build_nacha(NACHA_FILE, "A"), build_nacha(NACHA_FILE, "A")
    assert first.content == again.content and first.entries == again.entries
    assert first.content == (FIXTURES / "nacha_file.ach").read_bytes()  # what mock-bank was sent
    assert first.bank_file_name == "1010000001-2609300900A"
    ids = [e.individual_id for e in first.entries]
    assert ids == [individual_id(p.end_to_end_id) for p in NACHA_FILE.payments] and len(set(ids)) == 3
    assert all(is_individual_id(i) and "/" not in i for i in ids)
    assert [e.trace_number for e in first.entries] == ["999999990000001", "999999990000002", "999999990000003"]
    second = build_nacha(NACHA_FILE, "C")  # the account's third file of the day
    assert second.bank_file_name.endswith("C") and second.entries[0].trace_number == "999999990200001"
    assert carries_bank_details(first.content)  # sealed encrypted in the treasury store
    debtor, creditors = payment_accounts(first.content)
    assert debtor == "US9999999921010000001" and creditors[ids[0]] == "US021000021123456789"


def test_what_nacha_can_not_carry_is_refused_before_anything_is_sent():
    bad = NACHA_FILE.model_copy(update={"payments": [
        payment("1010-1-A/1", "Quantum", "021000022", "123", "1.00"),
        payment("1010-1-B/1", "Quantum", "021000021", "", "1.00"),
        payment("1010-1-C/1", "Quantum", "021000021", "123", "1.001"),
        payment("1010-1-D/1", "Quantum", "021000021", "123", "1.00").model_copy(update={"currency": "EUR"})]})
    with pytest.raises(PaymentFileInvalid) as refused:
        build_nacha(bad, "A")
    text = "; ".join(refused.value.findings)
    assert "check digit" in text and "no account number" in text and "more decimals" in text and "USD only" in text
    with pytest.raises(PaymentFileInvalid, match="modifier"):
        build_nacha(NACHA_FILE, "a")
    iso = NACHA_FILE.model_copy(update={"debtor": PayingAccount(
        account_id="ACME", name="ACME", iban="NL41MOCK0000000001", company_code="1710", currency="EUR")})
    with pytest.raises(PaymentFileInvalid, match="does not pay in NACHA"):
        build_nacha(iso, "A")
    with pytest.raises(ValueError, match="check digit"):
        ACMEUS.model_validate({**ACMEUS.model_dump(), "routing_number": "999999991"})


def test_the_banks_text_messages_are_read_as_the_documents_their_iso_counterparts_are():
    assert (message_kind("nacha.ack"), message_kind("nacha.return"), message_kind("bai2.statement")) == (
        MessageKind.STATUS_REPORT, MessageKind.RETURN, MessageKind.STATEMENT)
    [ack] = read_bank_message(MessageKind.STATUS_REPORT, fixture("nacha_ack.txt"))
    assert isinstance(ack, PaymentStatusReport) and ack.original_message_id == "1010000001-2609300900A"
    assert ack.group_status == "PART" and [(t.status, t.reason_code) for t in ack.transactions] == [
        ("ACCP", None), ("RJCT", "R03"), ("ACCP", None)]
    [returned] = read_bank_message(MessageKind.RETURN, fixture("nacha_return1.ach"))
    assert isinstance(returned, PaymentReturn) and returned.reason_code == "R03"
    assert (returned.end_to_end_id, returned.amount) == (individual_id(R03), Decimal("250.00"))
    assert returned.settlement_date == date(2026, 10, 1)
    [day] = read_bank_message(MessageKind.STATEMENT, fixture("bai2_statement1.bai2"))
    assert isinstance(day, BankStatement) and day.account_iban == "1010000001" and day.sequence_number == "1"
    assert (day.statement_date, day.opening_balance, day.closing_balance) == (
        date(2026, 9, 30), Decimal("100000.00"), Decimal("98710.01"))
    assert [(e.direction, e.amount, e.is_return) for e in day.entries] == [
        ("DBIT", Decimal("1190.00"), False), ("DBIT", Decimal("99.99"), False)]
    assert statement_balances(day) == []
    [back] = read_bank_message(MessageKind.STATEMENT, fixture("bai2_statement3.bai2"))
    assert [(e.direction, e.is_return, e.end_to_end_id) for e in back.entries] == [
        ("CRDT", True, individual_id(LATER))]
    with pytest.raises(UnreadableBankMessage, match=r"announced as pain\.002"):
        read_bank_message(MessageKind.STATUS_REPORT, fixture("bai2_statement1.bai2"))
    with pytest.raises(UnreadableBankMessage):
        read_bank_message(MessageKind.STATEMENT, "01,MOCKBANK,ACMEUS/\n")


def test_the_bank_reference_register_names_payments_and_files_by_our_ids(tmp_path):
    registers = PaymentRegisters(TreasuryStore(f"sqlite:///{tmp_path / 't.db'}").engine)
    built = build_nacha(NACHA_FILE, "A")
    registers.register_bank_references([new_row(e.individual_id, e.end_to_end_id, NACHA_FILE.message_id,
                                                built.bank_file_name, e.trace_number) for e in built.entries])
    ours = NACHA_FILE.message_id
    [ack] = read_in_our_terms(MessageKind.STATUS_REPORT, fixture("nacha_ack.txt"), registers)
    assert ack.original_message_id == ours and [t.end_to_end_id for t in ack.transactions] == [PAID, R03, LATER]
    [returned] = read_in_our_terms(MessageKind.RETURN, fixture("nacha_return1.ach"), registers)
    assert (returned.end_to_end_id, returned.original_message_id) == (R03, ours)
    for name in ("bai2_statement1.bai2", "nacha_camt054_1.xml"):
        kind = MessageKind.STATEMENT if name.startswith("bai2") else MessageKind.NOTIFICATION
        [statement] = read_in_our_terms(kind, fixture(name), registers)
        assert [(e.end_to_end_id, e.original_message_id) for e in statement.entries] == [(PAID, ours), (LATER, ours)]
    assert registers.bank_file_names_of("1010000001-260930") == {"1010000001-2609300900A"}
    # A file built again after a crash before it was kept: the references name the new one.
    rebuilt = build_nacha(NACHA_FILE, "B")
    registers.register_bank_references([new_row(e.individual_id, e.end_to_end_id, ours, rebuilt.bank_file_name,
                                                e.trace_number) for e in rebuilt.entries])
    assert registers.bank_references([individual_id(PAID)])[individual_id(PAID)].bank_file_name.endswith("B")
