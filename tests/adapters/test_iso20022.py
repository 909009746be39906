"""pain.001 building and bank message reading, on documents a real mock-bank 0.9.0 wrote
(tests/adapters/fixtures, recaptured by fixtures/capture.py). No server needed."""

import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.iso20022.pain001 import PaymentFileInvalid, build_pain001, sepa_name, validate_pain001
from adapters.iso20022.readers import (
    UnreadableBankMessage,
    is_duplicate_file_report,
    read_camt,
    read_message,
    read_message_all,
    read_pacs004,
    read_pacs004_all,
    read_pain002,
    statement_balances,
)
from canonical.bank import BankStatement, MessageKind, PaymentFile
from tests.adapters.fixtures.capture import ACME, EXTERNAL, FOUR, payment, payment_file

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def four_file(**changes) -> PaymentFile:
    base = dict(message_id="ACME-20260930-0001", payment_info_id="ACME-20260930-0001-1",
                created_at=datetime(2026, 9, 30, 8, 55), execution_date=FOUR[0].requested_execution_date,
                debtor=ACME, payments=FOUR)
    return PaymentFile(**{**base, **changes})


# -- pain.001 -------------------------------------------------------------------------------


def test_build_is_deterministic_and_matches_the_file_the_bank_accepted():
    xml = build_pain001(four_file())
    assert xml == build_pain001(four_file())
    # The exact bytes mock-bank took (PART: 2 accepted, AC04, RC01) when the fixtures were captured.
    assert xml == (FIXTURES / "pain001_four.xml").read_bytes()
    assert build_pain001(four_file(created_at=datetime(2026, 9, 30, 8, 56))) != xml
    validate_pain001(xml)


def test_counts_and_control_sums_are_exact_decimals():
    # 0.10 + 0.20 is 0.30 only in decimal arithmetic.
    xml = payment_file("DEC-1", [payment("D-1", "A", EXTERNAL, "0.10"), payment("D-2", "B", EXTERNAL, "0.20")])
    validate_pain001(xml)
    assert xml.count(b"<NbOfTxs>2</NbOfTxs>") == 2
    assert xml.count(b"<CtrlSum>0.30</CtrlSum>") == 2
    assert b'<InstdAmt Ccy="EUR">0.10</InstdAmt>' in xml


@pytest.mark.parametrize(("currency", "amount", "written"),
                         [("JPY", "1500", "1500"), ("KWD", "12.5", "12.500"), ("EUR", "7", "7.00")])
def test_amounts_carry_the_currencys_minor_units(currency, amount, written):
    p = payment("MU-1", "A", EXTERNAL, amount).model_copy(update={"currency": currency, "amount": Decimal(amount)})
    xml = build_pain001(four_file(payments=[p]))
    validate_pain001(xml)
    assert f'<InstdAmt Ccy="{currency}">{written}</InstdAmt>'.encode() in xml


def test_what_the_schema_cannot_carry_is_refused_at_build():
    too_precise = payment("P-1", "A", EXTERNAL, "1.005")
    long_id = payment("X" * 36, "A", EXTERNAL, "1.00")
    nameless = payment("P-3", " \n\t ", EXTERNAL, "1.00")
    with pytest.raises(PaymentFileInvalid) as refused:
        build_pain001(four_file(payments=[too_precise, long_id, nameless]))
    text = "\n".join(refused.value.findings)
    assert "more decimals than EUR" in text and "EndToEndId" in text and "no creditor name" in text


def test_names_are_cleaned_to_what_xml_and_the_schema_allow():
    odd = payment("N-1", "Ünïcode\x07 Name\r\n  Ltd " + "x" * 200, EXTERNAL, "1.00")
    xml = build_pain001(four_file(payments=[odd]))
    validate_pain001(xml)
    name = xml.split(b"<Cdtr>")[1].split(b"<Nm>")[1].split(b"</Nm>")[0].decode()
    assert name.startswith("Unicode Name Ltd x") and len(name) == 140  # SEPA characters, see below


@pytest.mark.parametrize("name, sent", [
    ("Müller & Søn", "Muller + Son"), ("Straße Ærø ApS", "Strasse AEro ApS"), ("Łódź Sp. z o.o.", "Lodz Sp. z o.o."),
    ("Ğüneş İnşaat", "Gunes Insaat"), ("O\u2019Brien \u201cLtd\u201d_x", "O'Brien 'Ltd'-x"),
    ("株式会社", "NOTPROVIDED"), ("a@b.com #1 <x>", "a b.com 1 x"),
    ("ß" * 100, "ss" * 70),  # cut to 140 after spelling out
])
def test_names_are_transliterated_to_the_sepa_character_set(name, sent):
    assert sepa_name(name) == sent
    assert re.fullmatch(r"[a-zA-Z0-9/\-?:().,'+ ]{1,140}", sepa_name(name))


def test_remittance_reference_goes_structured_and_falls_back_to_text_when_long():
    short = build_pain001(four_file(payments=[payment("R-1", "A", EXTERNAL, "1.00")]))
    assert b"<CdtrRefInf>" in short and b"<Ref>RE-R-1</Ref>" in short
    long_ref = payment("R-2", "A", EXTERNAL, "1.00").model_copy(update={"remittance_reference": "INV " + "9" * 40})
    long_xml = build_pain001(four_file(payments=[long_ref]))
    validate_pain001(long_xml)
    assert b"<Ustrd>INV " + b"9" * 40 + b"</Ustrd>" in long_xml and b"CdtrRefInf" not in long_xml


def test_validation_finds_what_the_bank_would_refuse_the_whole_file_for():
    good = build_pain001(four_file())
    with pytest.raises(PaymentFileInvalid, match="AM18"):
        validate_pain001(good.replace(b"<NbOfTxs>4</NbOfTxs>", b"<NbOfTxs>5</NbOfTxs>", 1))
    with pytest.raises(PaymentFileInvalid, match="AM10"):
        validate_pain001(good.replace(b"<CtrlSum>1550.50</CtrlSum>", b"<CtrlSum>1550.51</CtrlSum>"))
    with pytest.raises(PaymentFileInvalid, match="AM05"):
        validate_pain001(good.replace(b"INV-0002</EndToEndId>", b"INV-0001</EndToEndId>"))
    with pytest.raises(PaymentFileInvalid) as schema:
        validate_pain001(good.replace(b"ACME-20260930-0001</MsgId>", b"A" * 36 + b"</MsgId>"))
    assert "MsgId" in schema.value.findings[0]
    with pytest.raises(PaymentFileInvalid, match="not well-formed"):
        validate_pain001(good[:-40])


# -- pain.002 -------------------------------------------------------------------------------


def test_partial_acceptance_per_end_to_end_id():
    report = read_pain002(fixture("pain002_part.xml"))
    assert report.original_message_id == "ACME-20260930-0001"
    assert report.original_payment_info_id == "ACME-20260930-0001-1"
    assert report.group_status == "PART" and not is_duplicate_file_report(report)
    outcome = {t.end_to_end_id: (t.status, t.reason_code) for t in report.transactions}
    assert outcome == {"INV-0001": ("ACCP", None), "INV-0002": ("RJCT", "AC04"),
                       "INV-0003": ("RJCT", "RC01"), "INV-0004": ("ACCP", None)}
    assert "closed" in report.transactions[1].reason_text


def test_the_resend_answer_names_the_same_file_but_is_no_rejection_of_it():
    report = read_pain002(fixture("pain002_dupl.xml"))
    assert report.original_message_id == "ACME-20260930-0001"
    assert (report.group_status, report.group_reason_code, report.transactions) == ("RJCT", "DUPL", [])
    assert is_duplicate_file_report(report)


def test_a_file_the_bank_could_not_read_is_reported_without_our_msgid():
    report = read_pain002(fixture("pain002_unreadable.xml"))
    assert (report.original_message_id, report.group_reason_code) == ("NOTPROVIDED", "FF01")


def test_settlement_day_rejection_has_no_group_status():
    report = read_pain002(fixture("pain002_settlement_rejection.xml"))
    assert report.group_status is None
    assert [(t.end_to_end_id, t.status, t.reason_code) for t in report.transactions] == [("CLOSE-1", "RJCT", "AC04")]


# -- camt.05x -------------------------------------------------------------------------------


def test_booking_notification_carries_the_ids_to_match_on():
    note = read_camt(fixture("camt054_debits.xml"))
    assert note.kind is MessageKind.NOTIFICATION and note.account_iban == ACME.iban
    assert statement_balances(note) == []  # no balances in a camt.054: nothing to check
    keys = [(e.direction, e.end_to_end_id, e.original_message_id, e.payment_info_id, e.amount) for e in note.entries]
    assert keys == [("DBIT", "INV-0001", "ACME-20260930-0001", "ACME-20260930-0001-1", Decimal("1190.00")),
                    ("DBIT", "INV-0004", "ACME-20260930-0001", "ACME-20260930-0001-1", Decimal("10.01"))]
    assert note.entries[0].entry_reference == "MB-PMT-1" and str(note.entries[0].booking_date) == "2026-10-01"
    assert not any(e.is_return for e in note.entries)


def test_statement_balances_and_the_gap_the_bank_leaves():
    day = read_camt(fixture("camt053_balanced.xml"))
    assert day.kind is MessageKind.STATEMENT and day.sequence_number == "2" and str(day.statement_date) == "2026-10-01"
    assert day.closing_balance == day.opening_balance - Decimal("1200.01")
    assert statement_balances(day) == []
    gap = read_camt(fixture("camt053_gap.xml"))
    assert len(gap.entries) == 2
    [problem] = statement_balances(gap)
    assert "-3.00 EUR not accounted for" in problem


def test_returned_payment_in_camt054_and_pacs004():
    credits = read_camt(fixture("camt054_returns.xml"))
    assert [(e.direction, e.end_to_end_id, e.is_return, e.return_reason_code) for e in credits.entries] == [
        ("CRDT", "RET-1", True, "MD07"), ("CRDT", "RET-2", True, "MD07")]
    returns = read_pacs004_all(fixture("pacs004_two_returns.xml"))
    assert [(r.end_to_end_id, r.amount, r.reason_code, r.original_message_id, r.return_id) for r in returns] == [
        ("RET-1", Decimal("10.00"), "MD07", "ACME-RET-1", "MB-RTR-1"),
        ("RET-2", Decimal("20.00"), "MD07", "ACME-RET-1", "MB-RTR-2")]
    # One pacs.004 per account, day and original file: the single-item readers refuse, never truncate.
    with pytest.raises(UnreadableBankMessage, match="read_pacs004_all"):
        read_pacs004(fixture("pacs004_two_returns.xml"))
    with pytest.raises(UnreadableBankMessage):
        read_message(MessageKind.RETURN, fixture("pacs004_two_returns.xml"))
    assert read_message_all(MessageKind.RETURN, fixture("pacs004_two_returns.xml")) == returns


def test_incoming_credit_and_intraday_report():
    incoming = read_message(MessageKind.NOTIFICATION, fixture("camt054_incoming.xml"))
    [entry] = incoming.entries
    assert (entry.direction, entry.end_to_end_id, entry.remittance_reference) == ("CRDT", None, "RF18539007547034")
    report = read_message(MessageKind.INTRADAY_REPORT, fixture("camt052_intraday.xml"))
    assert report.kind is MessageKind.INTRADAY_REPORT
    assert (report.opening_balance, report.closing_balance) == (Decimal("125000.00"), Decimal("420.00") + 125000)
    assert statement_balances(report) == []


def test_batch_booking_is_split_per_transaction():
    # One Ntry booking two payments: each needs its own entry to be matched.
    body = fixture("camt054_debits.xml")
    first_tx = body[body.index("<TxDtls>"):body.index("</TxDtls>") + len("</TxDtls>")]
    second = first_tx.replace("INV-0001", "INV-0009").replace("1190.00", "10.00")
    body = body.replace(first_tx, first_tx.replace("1190.00", "1180.00") + second, 1)  # Ntry stays 1190.00
    entries = read_camt(body).entries
    assert [(e.end_to_end_id, e.amount) for e in entries] == [
        ("INV-0001", Decimal("1180.00")), ("INV-0009", Decimal("10.00")), ("INV-0004", Decimal("10.01"))]


def test_overdrawn_balance_is_negative():
    body = fixture("camt053_balanced.xml").replace(
        "<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">123799.99</Amt><CdtDbtInd>CRDT",
        "<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">123799.99</Amt><CdtDbtInd>DBIT")
    statement = read_camt(body)
    assert statement.closing_balance == Decimal("-123799.99") and statement_balances(statement)


# -- what the inbox must survive ------------------------------------------------------------


@pytest.mark.parametrize("body", ["<Document><unclosed", "", "not xml at all", "<?xml version='1.0'?><a/>"])
def test_malformed_messages_are_unreadable_not_crashes(body):
    for kind in MessageKind:
        with pytest.raises(UnreadableBankMessage):
            read_message(kind, body)


def test_wrong_type_missing_ids_and_unknown_currency_are_unreadable():
    with pytest.raises(UnreadableBankMessage, match=r"announced as camt\.053"):
        read_message(MessageKind.STATEMENT, fixture("camt054_debits.xml"))
    with pytest.raises(UnreadableBankMessage, match=r"pain\.002"):
        read_message(MessageKind.STATUS_REPORT, fixture("camt053_balanced.xml"))
    with pytest.raises(UnreadableBankMessage, match="MsgId"):
        read_pain002(fixture("pain002_part.xml").replace("<MsgId>MB-P002-000001</MsgId>", ""))
    with pytest.raises(UnreadableBankMessage, match="OrgnlEndToEndId"):
        read_pain002(fixture("pain002_part.xml").replace("<OrgnlEndToEndId>INV-0002</OrgnlEndToEndId>", ""))
    with pytest.raises(UnreadableBankMessage, match="currency"):
        read_camt(fixture("camt053_balanced.xml").replace("EUR", "XXX"))


def test_entities_are_never_expanded():
    # A classic XXE: a message that tries to pull in a local file is not even parsed.
    hostile = fixture("pain002_part.xml").replace(
        "<?xml version='1.0' encoding='utf-8'?>",
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>').replace(
        "<OrgnlMsgId>ACME-20260930-0001</OrgnlMsgId>", "<OrgnlMsgId>&x;</OrgnlMsgId>")
    with pytest.raises(UnreadableBankMessage, match="DOCTYPE"):
        read_pain002(hostile)


@pytest.mark.parametrize("name, kind", [("camt053_balanced.xml", MessageKind.STATEMENT),
                                        ("pain002_part.xml", MessageKind.STATUS_REPORT),
                                        ("camt054_debits.xml", MessageKind.NOTIFICATION)])
@pytest.mark.parametrize("prolog", [
    "<!DOCTYPE Document>",  # no entity at all: still refused
    '<!-- from the bank --><?pi x?>\n<!DOCTYPE Document [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
])
def test_a_message_with_a_doctype_is_unreadable_never_parsed(name, kind, prolog):
    body = fixture(name)
    declaration_end = body.index("?>") + 2
    with_dtd = body[:declaration_end] + prolog + body[declaration_end:]
    with pytest.raises(UnreadableBankMessage, match="DOCTYPE"):
        read_message(kind, with_dtd)
    with pytest.raises(UnreadableBankMessage, match="DOCTYPE"):
        read_message(kind, "\ufeff" + with_dtd[declaration_end:].lstrip())  # no declaration, a byte order mark
    assert read_message(kind, body)  # the same message without it reads


def test_statement_with_foreign_currency_entry_is_flagged():
    statement = read_camt(fixture("camt053_balanced.xml"))
    odd = statement.model_copy(update={"entries": [statement.entries[0].model_copy(update={"currency": "USD"})]})
    assert isinstance(odd, BankStatement)
    assert any("USD" in p for p in statement_balances(odd))
