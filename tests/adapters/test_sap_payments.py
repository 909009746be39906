"""SapPayments and the FINSTA01 builder against a real mock-sap: claims, open items, clearing by
bank statement, returns, statement findings and an IDoc SAP received but did not post."""

import uuid
from datetime import date
from decimal import Decimal

import httpx
import pytest
from lxml import etree

from adapters.finsta import build_finsta01
from adapters.sap import SapBusinessError, SapClient
from adapters.sap_clearing import SapClearing
from adapters.sap_payments import IdocNotPosted, SapPayments
from canonical.bank import BankStatement, MessageKind, StatementEntry
from canonical.erp import PostedInvoice
from canonical.invoice import Invoice

RUN_DATE = date(2026, 10, 5)
STATEMENT_DATE = date(2026, 10, 6)


@pytest.fixture
def payments(sap) -> SapPayments:
    return SapPayments(sap)


@pytest.fixture
async def control(sap_url):
    async with httpx.AsyncClient(base_url=sap_url, headers={"Connection": "close"}) as c:
        yield c
        await c.delete("/_mock/idoc-posting")


async def post_invoice(sap: SapClient, gross: str = "1190.00") -> PostedInvoice:
    ref = "P" + uuid.uuid4().hex[:12].upper()  # ≤ 16: SAP's reference field
    net = str(Decimal(gross) - Decimal("190.00"))
    invoice = Invoice(
        company_code="1710", supplier_id="1000013", supplier_invoice_ref=ref, invoice_date=date(2026, 9, 20),
        currency="EUR", net_amount=net, tax_amount="190.00", gross_amount=gross,
        payment_terms={"code": "NT30", "net_days": 30},
        lines=[{"line_no": 1, "description": "Consulting", "net_amount": net}],
    )
    return await sap.post_supplier_invoice(invoice)


def entry(amount: str, direction: str = "DBIT", reference: str | None = None, **extra) -> StatementEntry:
    return StatementEntry(amount=amount, currency="EUR", direction=direction, booking_date=STATEMENT_DATE,
                          remittance_reference=reference, end_to_end_id=extra.pop("e2e", None), **extra)


def statement(entries: list[StatementEntry], *, opening: str | None = "10000.00", closing: str | None = None,
              account: str | None = None, number: str = "1") -> BankStatement:
    if opening is not None and closing is None:  # a statement that adds up
        moved = sum((e.amount if e.direction == "CRDT" else -e.amount for e in entries), Decimal(0))
        closing = str(Decimal(opening) + moved)
    return BankStatement(
        message_id=f"CAMT053-{uuid.uuid4().hex[:8]}", kind=MessageKind.STATEMENT,
        # Its own account per test: SAP chains statements per account and would report a gap.
        account_iban=account or f"NL00MOCK{uuid.uuid4().int % 10**10:010d}",
        sequence_number=number, statement_date=STATEMENT_DATE, currency="EUR",
        opening_balance=opening, closing_balance=closing, entries=entries,
    )


def test_finsta01_shape_and_left_out_entries():
    s = statement([
        entry("1190.00", reference="INV-1", e2e="E2E-1"),
        entry("500.00", "CRDT", reference="INV-2", is_return=True, return_reason_code="AC04"),
        entry("75.00", "CRDT", reference="INV-3"),  # money received: not ours to post
        entry("20.00"),  # a fee with no reference
    ], account="NL14MOCK0000000001", number="42")
    idoc = build_finsta01(s, bank_key="mocknl2a")
    root = etree.fromstring(idoc.xml)
    assert root.findtext("IDOC/EDI_DC40/IDOCTYP") == "FINSTA01" and root.findtext("IDOC/EDI_DC40/MESTYP") == "FINSTA"
    header = root.find("IDOC/E1IDKU1")
    assert header.findtext("BGMREF") == idoc.statement_number == "00042"
    assert (header.findtext("E1EDK03/IDDAT"), header.findtext("E1EDK03/DATUM")) == ("026", "20261006")
    assert [header.findtext(f"E1IDB02/{f}") for f in ("FIIBKENN", "FIIKONTO", "FIIBLAND", "FIIKWAER")] == [
        "MOCKNL2A", "NL14MOCK0000000001", "NL", "EUR"]
    debit, ret, balances = header.findall("E1IDPF1")
    def fields(line, *paths):
        return tuple(line.findtext(path) for path in paths)

    assert fields(debit, "LINLINEIT", "LINACTION", "E1EDP02/QUALF", "E1EDP02/BELNR", "E1IDPU5/MOABETR") == (
        "000001", None, "009", "INV-1", "1190.00-")
    assert fields(ret, "LINACTION", "E1EDP02/BELNR", "E1IDPU5/MOABETR") == ("RET", "INV-2", "500.00")
    # Totals over every entry (the bank's turnover), not only the lines sent.
    assert [(b.findtext("MOAQUAL"), b.findtext("MOABETR")) for b in balances.findall("E1IDPU5")] == [
        ("019", "10000.00"), ("021", "9365.00"), ("023", "1210.00"), ("024", "575.00")]
    assert [line.entry.end_to_end_id for line in idoc.lines] == ["E2E-1", None]
    assert [(left.entry.amount, left.reason.split(" ")[:3]) for left in idoc.left_out] == [
        (Decimal("75.00"), ["money", "received", "is"]), (Decimal("20.00"), ["the", "payment", "carries"])]


async def test_claim_is_idempotent_exclusive_and_releasable(sap, payments, control):
    posted = await post_invoice(sap)
    doc = posted.erp_document
    item = await payments.open_item(doc, "1710")
    # The cube says "1190.000"; the item carries the currency's 2 decimals.
    assert (str(item.amount), item.currency, item.supplier_id) == ("1190.00", "EUR", "1000013")
    assert not item.is_cleared and item.payment_run_id == "" and item.net_due_date == date(2026, 10, 20)

    await payments.claim_for_payment_run(doc, "F110A", RUN_DATE)
    item = await payments.open_item(doc, "1710")
    assert (item.payment_run_id, item.payment_run_date) == ("F110A", RUN_DATE)

    last = (await control.get("/_mock/requests", params={"limit": 1})).json()["results"][0]["id"]
    await payments.claim_for_payment_run(doc, "F110A", RUN_DATE)  # a retried activity
    since = [r for r in (await control.get("/_mock/requests")).json()["results"] if r["id"] > last]
    assert since and [r["method"] for r in since] == ["GET"] * len(since)  # read, nothing written again

    with pytest.raises(SapBusinessError) as caught:
        await payments.claim_for_payment_run(doc, "F110B", RUN_DATE)
    assert (caught.value.status, caught.value.code) == (409, "FINSYNC/CLAIMED") and "F110A" in caught.value.message

    await payments.release_from_payment_run(doc)
    item = await payments.open_item(doc, "1710")
    assert (item.payment_run_id, item.payment_run_date) == ("", None)
    with pytest.raises(SapBusinessError) as caught:
        await payments.claim_for_payment_run(doc, "TOOLONG", RUN_DATE)  # F110's run id is 6 characters
    assert caught.value.status == 400 and "maximum length 6" in caught.value.message
    assert await payments.open_item(doc.model_copy(update={"accounting_document": "0199999999"}), "1710") is None


async def test_statement_clears_then_return_reopens(sap, payments):
    posted = await post_invoice(sap)
    doc = posted.erp_document
    await payments.claim_for_payment_run(doc, "F110C", RUN_DATE)
    account = f"NL00MOCK{uuid.uuid4().int % 10**10:010d}"
    paid = statement([
        entry("1190.00", reference=posted.reference, e2e="E2E-PAY", entry_reference="BANK-1"),
        entry("50.00", "CRDT", reference="SOMETHING"),  # money received: left out
        entry("10.00"),  # no reference: left out
    ], account=account, number="1")
    posting = await payments.post_bank_statement(paid, our_account_bic="MOCKNL2A")

    assert posting.status == "53" and posting.findings == [] and posting.unprocessed == []
    assert (posting.statement_number, posting.account) == ("00001", account)
    [cleared] = posting.cleared
    assert (cleared.reference, cleared.accounting_document, cleared.amount) == (
        posted.reference, doc.accounting_document, Decimal("1190.00"))
    assert (cleared.end_to_end_id, cleared.entry_reference) == ("E2E-PAY", "BANK-1")
    assert len(posting.left_out) == 2
    item = await payments.open_item(doc, "1710")
    assert item.is_cleared and item.clearing_document == cleared.clearing_document
    assert item.clearing_date == STATEMENT_DATE and item.payment_run_id == ""  # clearing released the claim
    # What recovery after a lost answer reads: SAP's own open-item and journal-entry APIs.
    [state] = (await SapClearing(sap).supplier_items([doc.accounting_document]))[doc.accounting_document]
    assert state.cleared and not state.reopened and state.clearing_document == cleared.clearing_document
    reference = await SapClearing(sap).document_reference(state.clearing_document, "1710", state.clearing_fiscal_year)
    assert reference == "00001"
    with pytest.raises(SapBusinessError) as caught:
        await payments.claim_for_payment_run(doc, "F110D", RUN_DATE)  # paying it again would pay twice
    assert caught.value.code == "FINSYNC/CLEARED"

    returned = statement([entry("1190.00", "CRDT", reference=posted.reference, is_return=True, e2e="E2E-PAY")],
                         account=account, number="2", opening=str(paid.closing_balance))
    back = await payments.post_bank_statement(returned)
    assert back.findings == [] and back.cleared == []
    [reopened] = back.reopened
    # SAP answers "1190.000" for a return; the line carries the currency's 2 decimals.
    assert (reopened.accounting_document, str(reopened.amount)) == (doc.accounting_document, "1190.00")
    item = await payments.open_item(doc, "1710")
    assert not item.is_cleared and item.clearing_is_reversed and item.clearing_date is None
    [state] = (await SapClearing(sap).supplier_items([doc.accounting_document]))[doc.accounting_document]
    assert state.reopened and state.clearing_document == ""
    await payments.claim_for_payment_run(doc, "F110E", RUN_DATE)  # open again: the next run may take it


async def test_wrong_amount_is_unprocessed_and_item_stays_open(sap, payments):
    posted = await post_invoice(sap)
    posting = await payments.post_bank_statement(statement([entry("1180.00", reference=posted.reference, e2e="E2E-X")]))
    assert posting.cleared == []
    [line] = posting.unprocessed
    assert (line.line, line.reference, line.end_to_end_id) == ("000001", posted.reference, "E2E-X")
    assert "1190.00 EUR" in line.reason and "1180.00 EUR" in line.reason
    assert not (await payments.open_item(posted.erp_document, "1710")).is_cleared


async def test_statement_that_does_not_add_up_is_reported(sap, payments):
    posted = await post_invoice(sap)
    posting = await payments.post_bank_statement(
        statement([entry("1190.00", reference=posted.reference)], opening="10000.00", closing="9000.00"))
    assert len(posting.cleared) == 1  # SAP still posts it; the finding is for treasury to chase
    [finding] = posting.findings
    assert "does not add up" in finding and "8810.00" in finding


async def test_idoc_status_51_is_an_error_and_clears_nothing(sap, payments, control):
    posted = await post_invoice(sap)
    rule = {"mestyp": "FINSTA", "status": "51", "message": "Posting period 010 2026 is not open", "count": 1}
    assert (await control.post("/_mock/idoc-posting", json=rule)).status_code == 201
    with pytest.raises(IdocNotPosted) as caught:
        await payments.post_bank_statement(statement([entry("1190.00", reference=posted.reference)]))
    assert isinstance(caught.value, SapBusinessError) and caught.value.idoc_status == "51"
    assert "Posting period 010 2026 is not open" in caught.value.message and caught.value.idoc_number
    assert not (await payments.open_item(posted.erp_document, "1710")).is_cleared
    [state] = (await SapClearing(sap).supplier_items([posted.erp_document.accounting_document]))[
        posted.erp_document.accounting_document]
    assert not state.cleared and not state.reopened


async def test_refused_csrf_token_on_the_idoc_post_is_refetched_once(sap, payments, control):
    posted = await post_invoice(sap)
    rule = {"match": "^/sap/bc/idoc$", "method": "POST", "scenario": "csrf", "count": 1}
    assert (await control.post("/_mock/faults", json=rule)).status_code == 201
    try:
        posting = await payments.post_bank_statement(statement([entry("1190.00", reference=posted.reference)]))
    finally:
        await control.delete("/_mock/faults")
    assert [c.accounting_document for c in posting.cleared] == [posted.erp_document.accounting_document]
