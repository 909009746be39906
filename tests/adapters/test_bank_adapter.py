"""BankClient and the ISO 20022 readers against a real mock-bank 0.9.0 on a free port (no
fakes for the bank's behaviour; a fake transport only where the network must fail)."""

import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from lxml import etree
from pydantic import SecretStr

from adapters.bank import BankClient, BankError, BankOutcomeUnknown, BankRejectedFile, BankTransientError
from adapters.bank_channel import BankChannel
from adapters.iso20022.pain001 import NS, PaymentFileInvalid, validate_pain001
from adapters.iso20022.readers import (
    is_duplicate_file_report,
    read_message,
    read_message_all,
    read_pacs004,
    read_pain002,
    statement_balances,
)
from canonical.bank import BankMessage, BankStatement, MessageKind
from cli.processes import BIN, ManagedProcess, free_port, mock_bank
from settings import Settings
from tests.adapters.fixtures.capture import CLOCK, EXTERNAL, FOUR, payment, payment_file
from tests.harness.bank import MOCK_BANK_CHANNEL, HarnessBankClient
from tests.servers import running

FOUR_XML = payment_file("ACME-20260930-0001", FOUR)


@pytest.fixture(scope="module")
def bank_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(lambda port, log: mock_bank(port, clock=CLOCK, log=log),
                 tmp_path_factory.mktemp("bank") / "mock-bank.log") as url:
        yield url


@pytest.fixture
async def control(bank_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The mock's control plane: a fresh seeded bank, clock back at CLOCK, for every test."""
    async with httpx.AsyncClient(base_url=bank_url, timeout=60) as c:
        (await c.post("/_mock/reset")).raise_for_status()
        yield c


@pytest.fixture
async def bank(bank_url: str, control) -> AsyncIterator[HarnessBankClient]:
    """The production client plus the mock's inspection paths, for asserting on the bank's books."""
    async with HarnessBankClient(bank_url) as client:
        yield client


async def collect(bank: BankClient, kind: MessageKind, account: str = "ACME") -> list[BankMessage]:
    return [m for m in await bank.collect_mailbox() if m.kind is kind and m.account == account]


async def test_four_payments_partly_accepted_peek_then_collect(bank: BankClient):
    validate_pain001(FOUR_XML)
    receipt = await bank.submit_payment_file(FOUR_XML)
    assert (receipt.message_id, receipt.duplicate) == ("ACME-20260930-0001", False)

    peeked = await bank.peek_mailbox()
    assert [(m.bank_message_id.split(":")[0], m.kind, m.account) for m in peeked] == [
        ("1", MessageKind.STATUS_REPORT, "ACME")]
    assert await bank.peek_mailbox() == peeked  # peeking consumes nothing
    assert await bank.collect_mailbox() == peeked
    assert await bank.peek_mailbox() == []  # collected is gone from the mailbox ...
    assert await bank.released_messages() == peeked  # ... but the mock still lists it (harness only)

    report = read_message(peeked[0].kind, peeked[0].body)
    assert report.group_status == "PART"
    assert {t.end_to_end_id: (t.status, t.reason_code) for t in report.transactions} == {
        "INV-0001": ("ACCP", None), "INV-0002": ("RJCT", "AC04"),
        "INV-0003": ("RJCT", "RC01"), "INV-0004": ("ACCP", None)}


async def test_names_outside_the_sepa_character_set_are_transliterated_and_the_bank_takes_the_file(
        bank: BankClient):
    """One supplier with an odd name must not get a file of many payments refused: every Nm
    is in the SEPA set (a-z A-Z 0-9 / - ? : ( ) . , ' + space) and mock-bank accepts them all."""
    names = {"SEPA-1": ("Müller & Søn", "Muller + Son"), "SEPA-2": ("Straße Ærø ApS", "Strasse AEro ApS"),
             "SEPA-3": ("株式会社 Tokio", "Tokio"), "SEPA-4": ("株式会社", "NOTPROVIDED"),
             "SEPA-5": ('ACME <Sales> #1 "Best"; 100% · ok!', "ACME Sales 1 'Best', 100 ok.")}
    xml = payment_file("ACME-20260930-0007", [payment(e2e, name, EXTERNAL, "10.00", "COBADEFFXXX")
                                              for e2e, (name, _) in names.items()])
    validate_pain001(xml)
    sent = etree.fromstring(xml).xpath("//p:Nm/text()", namespaces={"p": NS})
    assert sent == ["ACME Europe B.V.", "ACME Europe B.V.", *(expected for _, expected in names.values())]
    assert all(re.fullmatch(r"[a-zA-Z0-9/\-?:().,'+ ]+", name) for name in sent), sent
    receipt = await bank.submit_payment_file(xml)
    assert (receipt.message_id, receipt.duplicate) == ("ACME-20260930-0007", False)
    [report] = [read_pain002(m.body) for m in await collect(bank, MessageKind.STATUS_REPORT)]
    assert report.group_status == "ACCP", report
    assert {t.end_to_end_id: t.status for t in report.transactions} == dict.fromkeys(names, "ACCP")


async def test_same_bytes_again_is_a_duplicate_receipt_and_pays_once(bank: BankClient):
    await bank.submit_payment_file(FOUR_XML)
    again = await bank.submit_payment_file(FOUR_XML)
    assert (again.message_id, again.duplicate) == ("ACME-20260930-0001", True)
    for e2e in ("INV-0001", "INV-0004"):
        assert len(await bank.payments_for(e2e)) == 1
    assert await bank.payments_for("NEVER-SENT") == []
    first, dupl = [read_pain002(m.body) for m in await collect(bank, MessageKind.STATUS_REPORT)]
    assert first.group_status == "PART" and not is_duplicate_file_report(first)
    # Same OrgnlMsgId, group RJCT: only the DUPL reason says "already have it".
    assert (dupl.original_message_id, dupl.group_status, dupl.group_reason_code) == (
        first.original_message_id, "RJCT", "DUPL")
    assert is_duplicate_file_report(dupl)


async def test_lost_answer_is_outcome_unknown_and_the_resend_finds_the_file(bank: BankClient, bank_url: str):
    class AnswerLost(httpx.AsyncHTTPTransport):
        async def handle_async_request(self, request):
            await super().handle_async_request(request)  # the bank gets and processes it
            raise httpx.ReadTimeout("answer lost", request=request)

    async with BankClient(bank_url, transport=AnswerLost()) as flaky:
        with pytest.raises(BankOutcomeUnknown):
            await flaky.submit_payment_file(FOUR_XML)
    assert (await bank.submit_payment_file(FOUR_XML)).duplicate
    assert len(await bank.payments_for("INV-0001")) == 1


async def test_invalid_file_is_stopped_before_sending_and_bank_refusal_is_typed(bank: BankClient, control):
    with pytest.raises(PaymentFileInvalid, match="AM18"):
        validate_pain001(FOUR_XML.replace(b"<NbOfTxs>4</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>", 1))
    (await control.patch("/_mock/accounts/ACME", json={"behaviour": "reject-file"})).raise_for_status()
    with pytest.raises(BankRejectedFile) as refused:
        await bank.submit_payment_file(FOUR_XML)
    assert refused.value.reason_code == "FF01" and "reject-file" in refused.value.findings[0]
    # The refused MsgId is burned: the same bytes later get DUPL though nothing was ever booked,
    # so a duplicate receipt is no acceptance; the first pain.002 (RJCT FF01) decides.
    (await control.patch("/_mock/accounts/ACME", json={"behaviour": "accept"})).raise_for_status()
    assert (await bank.submit_payment_file(FOUR_XML)).duplicate
    assert await bank.payments_for("INV-0001") == []
    first, dupl = [read_pain002(m.body) for m in await collect(bank, MessageKind.STATUS_REPORT)]
    assert (first.group_status, first.group_reason_code) == ("RJCT", "FF01")
    assert is_duplicate_file_report(dupl) and not is_duplicate_file_report(first)


async def test_settlement_notification_then_balanced_statement(bank: BankClient, control):
    await bank.submit_payment_file(FOUR_XML)
    await bank.collect_mailbox()
    (await control.post("/_mock/advance", params={"to": "2026-10-01"})).raise_for_status()
    [notification] = await collect(bank, MessageKind.NOTIFICATION)
    debits = read_message(notification.kind, notification.body).entries
    assert [(e.direction, e.end_to_end_id, e.original_message_id, e.payment_info_id) for e in debits] == [
        ("DBIT", "INV-0001", "ACME-20260930-0001", "ACME-20260930-0001-1"),
        ("DBIT", "INV-0004", "ACME-20260930-0001", "ACME-20260930-0001-1")]
    (await control.post("/_mock/advance", params={"days": 1})).raise_for_status()
    [statement] = [read_message(m.kind, m.body) for m in await collect(bank, MessageKind.STATEMENT)]
    assert isinstance(statement, BankStatement) and str(statement.statement_date) == "2026-10-01"
    assert [e.end_to_end_id for e in statement.entries] == ["INV-0001", "INV-0004"]
    assert statement.opening_balance - statement.closing_balance == Decimal("1200.01")
    assert statement_balances(statement) == []


async def test_statement_gap_is_reported(bank: BankClient, control):
    (await control.patch("/_mock/accounts/ACME", json={"behaviour": "statement-gap"})).raise_for_status()
    three = [payment(f"GAP-{n}", "C", EXTERNAL, f"{n}.00") for n in (1, 2, 3)]
    await bank.submit_payment_file(payment_file("ACME-GAP-1", three))
    (await control.post("/_mock/advance", params={"to": "2026-10-02"})).raise_for_status()
    messages = await collect(bank, MessageKind.STATEMENT)
    day = next(s for s in (read_message(m.kind, m.body) for m in messages) if s.entries)
    assert len(day.entries) == 2
    [problem] = statement_balances(day)
    assert "not accounted for" in problem


async def test_return_later_gives_pacs004_and_a_return_credit(bank: BankClient, control):
    behaviour = {"behaviour": "return-later", "parameters": {"days": 1, "reason": "MD07", "end_to_end_id": "RET-2"}}
    (await control.patch("/_mock/accounts/ACME", json=behaviour)).raise_for_status()
    await bank.submit_payment_file(payment_file("ACME-RET-1", [payment("RET-1", "A", EXTERNAL, "10.00"),
                                                                payment("RET-2", "B", EXTERNAL, "20.00")]))
    (await control.post("/_mock/advance", params={"to": "2026-10-02"})).raise_for_status()
    messages = await bank.collect_mailbox()
    [returned] = [read_pacs004(m.body) for m in messages if m.kind is MessageKind.RETURN]
    assert (returned.end_to_end_id, returned.reason_code, returned.original_message_id, returned.amount) == (
        "RET-2", "MD07", "ACME-RET-1", Decimal("20.00"))
    entries = [e for m in messages if m.kind is MessageKind.NOTIFICATION for e in read_message(m.kind, m.body).entries]
    [credit] = [e for e in entries if e.direction == "CRDT"]
    assert (credit.end_to_end_id, credit.is_return, credit.return_reason_code) == ("RET-2", True, "MD07")
    assert all(read_message_all(m.kind, m.body) for m in messages)  # every message of the run is readable
    assert (await bank.payments_for("RET-2"))[0]["status"] == "returned"


async def test_ids_are_qualified_by_content_not_by_the_banks_epoch(bank: BankClient, control):
    await bank.submit_payment_file(FOUR_XML)
    [peeked] = await bank.peek_mailbox()
    [first] = await bank.collect_mailbox()
    (await control.post("/_mock/reset")).raise_for_status()
    await bank.submit_payment_file(FOUR_XML)  # a new bank: not a duplicate, mailbox id 1 again ...
    [again] = await bank.collect_mailbox()  # ... and, the clock back too, the very same pain.002
    await bank.submit_payment_file(payment_file("ACME-20260930-0002", FOUR))
    [second] = await bank.collect_mailbox()
    assert peeked.bank_message_id == first.bank_message_id  # read twice: one message
    assert again.body == first.body and again.bank_message_id == first.bank_message_id  # same bytes, same news
    assert first.bank_message_id.startswith("1:") and second.bank_message_id.startswith("2:")
    assert second.bank_message_id.split(":")[1] != first.bank_message_id.split(":")[1]


async def test_transport_failures_are_typed(bank_url: str):
    async with BankClient(f"http://127.0.0.1:{free_port()}") as nowhere:
        with pytest.raises(BankTransientError):
            await nowhere.submit_payment_file(FOUR_XML)

    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "7"}, text="busy")

    async with BankClient(bank_url, transport=httpx.MockTransport(busy), channel=MOCK_BANK_CHANNEL) as overloaded:
        with pytest.raises(BankTransientError) as transient:
            await overloaded.peek_mailbox()
        assert transient.value.retry_after == 7.0


async def test_basic_auth_from_settings(tmp_path):
    port = free_port()
    args = [str(BIN / "mock-bank"), "--port", str(port), "--clock", CLOCK, "--auth", "finsync:s3cret", "-q"]
    proc = ManagedProcess("mock-bank-auth", args, tmp_path / "auth.log").start()
    try:
        proc.wait_port(port)
        url = f"http://127.0.0.1:{port}"
        async with BankClient(url, channel=MOCK_BANK_CHANNEL) as anonymous:
            with pytest.raises(BankError) as refused:
                await anonymous.peek_mailbox()
            assert refused.value.status == 401
        settings = SimpleNamespace(bank_url=url, bank_user="finsync", bank_password=SecretStr("s3cret"))
        async with BankClient.from_settings(settings) as authed:
            assert not (await authed.submit_payment_file(FOUR_XML)).duplicate
    finally:
        proc.stop()


async def test_another_banks_channel_paths_come_from_configuration():
    """A connection to another bank names its download and report request in settings; the
    adapter uses exactly those (a fake transport records the paths), and the request keeps `{account}`."""
    seen: list[str] = []

    def bank_of_another_kind(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        return httpx.Response(200, json=[]) if request.method == "GET" else httpx.Response(202)

    settings = Settings(bank_url="https://bank.example", bank_download_path="/ebics/btd",
                        bank_report_request_path="/ebics/c52/{account}")
    channel = BankClient.from_settings(settings)._channel
    async with BankClient(settings.bank_url, transport=httpx.MockTransport(bank_of_another_kind),
                          channel=channel) as bank:
        assert await bank.peek_mailbox() == [] and await bank.collect_mailbox() == []
        await bank.request_intraday_report("ACME")
    assert seen == ["GET /ebics/btd?leave", "GET /ebics/btd?", "POST /ebics/c52/ACME?"]
    with pytest.raises(ValueError, match="account"):
        Settings(bank_report_request_path="/ebics/c52")


async def test_a_connection_without_configured_paths_names_the_setting_and_calls_nothing():
    """The adapter knows no bank's paths of its own: unset, a download or a report request is
    refused before any request, naming the setting (a file-drop-only deployment needs neither)."""
    seen: list[str] = []

    def anything(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=[])

    unset = Settings(bank_url="https://bank.example", bank_download_path=None, bank_report_request_path=None)
    assert BankClient.from_settings(unset)._channel == BankChannel(download=None, report_request=None)
    async with BankClient(unset.bank_url, transport=httpx.MockTransport(anything)) as bank:
        with pytest.raises(BankError, match="FINSYNC_BANK_DOWNLOAD_PATH"):
            await bank.collect_mailbox()
        with pytest.raises(BankError, match="FINSYNC_BANK_REPORT_REQUEST_PATH"):
            await bank.request_intraday_report("ACME")
    assert seen == []
