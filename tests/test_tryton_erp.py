"""The Tryton adapter (adapters/tryton.py) against a real Tryton server (tests/tryton_server.py)
on the seeded database: company 2710, suppliers 2700001–2700003.

Every test posts invoices under references of its own, so they share one server."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest
import pytest_asyncio

from adapters.erp_errors import ErpBusinessError, ErpOutcomeUnknown
from adapters.erp_port import ErpPort
from adapters.tryton import TrytonErp
from canonical.bank import BankStatement, MessageKind, StatementEntry
from canonical.erp import PostedInvoice
from canonical.status import ErpDocument
from cli.tryton_seed import COMPANY_IBAN, SUPPLIERS
from tests.clock import business_today
from tests.helpers import unique_ref
from tests.tryton_flow import LoseAnswer, connect, tryton_invoice, tryton_invoices
from tests.tryton_server import TrytonServer

TODAY = business_today()


@pytest_asyncio.fixture
async def erp(tryton_server: TrytonServer) -> AsyncIterator[TrytonErp]:
    async with connect(tryton_server) as port:
        yield port


def statement(*entries: StatementEntry) -> BankStatement:
    number = f"TS{uuid.uuid4().hex[:8].upper()}"
    return BankStatement(message_id=f"MSG-{number}", kind=MessageKind.STATEMENT, account_iban=COMPANY_IBAN,
                         statement_id=number, statement_date=TODAY, currency="EUR", entries=list(entries))


def paid(posted: PostedInvoice, reference: str | None = None) -> StatementEntry:
    return StatementEntry(amount=posted.gross_amount, currency="EUR", direction="DBIT", booking_date=TODAY,
                          end_to_end_id=f"E2E-{posted.erp_document.invoice_document}",
                          remittance_reference=reference or posted.erp_document.invoice_document)


def returned(posted: PostedInvoice) -> StatementEntry:
    return paid(posted).model_copy(update={"direction": "CRDT", "is_return": True, "return_reason_code": "AC04"})


async def count_invoices(erp: TrytonErp, supplier_id: str, reference: str) -> int:
    """Every invoice Tryton holds for this supplier and reference, drafts and cancelled ones too."""
    return len(await tryton_invoices(erp, supplier_id, reference))


async def test_the_adapter_is_an_erp_port_and_reads_master_data(erp: TrytonErp, tryton_server: TrytonServer):
    assert isinstance(erp, ErpPort)
    assert tryton_server.startup_seconds < 60
    code, name, iban, bic, vat = SUPPLIERS[0]
    supplier = await erp.get_supplier(code)
    assert supplier is not None and (supplier.name, supplier.vat_id, supplier.is_blocked) == (name, vat, False)
    [account] = supplier.bank_accounts
    assert (account.iban, account.bic, account.country, len(account.bank_account_id)) == (iban, bic, "DE", 4)
    assert await erp.get_supplier("9999999") is None
    company = await erp.get_company_code("2710")
    assert company is not None and (company.name, company.country, company.currency) == ("ACME Retail GmbH", "DE",
                                                                                          "EUR")
    assert await erp.get_company_code("1710") is None


async def test_a_repeated_post_and_a_lost_answer_post_once(tryton_server: TrytonServer):
    invoice = tryton_invoice()
    reference = invoice.supplier_invoice_ref
    lossy = LoseAnswer("model.account.invoice.create")
    async with connect(tryton_server, lossy) as erp:
        with pytest.raises(ErpOutcomeUnknown):
            await erp.post_supplier_invoice(invoice)
        assert lossy.lost == 1
        # The create landed as a draft: not posted, so the caller's lookup finds nothing ...
        assert await erp.find_supplier_invoices(invoice.supplier_id, reference) == []
        # ... and its second post finishes that draft instead of making a second invoice.
        posted = await erp.post_supplier_invoice(invoice)
        again = await erp.post_supplier_invoice(invoice)
        assert again.erp_document == posted.erp_document
        assert await erp.find_supplier_invoices(invoice.supplier_id, reference) == [posted]
        assert await count_invoices(erp, invoice.supplier_id, reference) == 1
    assert posted.erp_document.invoice_document.startswith(f"SI2710-{TODAY.year}-")
    assert posted.erp_document.fiscal_year == str(TODAY.year)
    assert (posted.company_code, posted.gross_amount, posted.currency, posted.net_due_date) == (
        "2710", Decimal("1190.00"), "EUR", TODAY + timedelta(days=30))


async def test_a_post_whose_answer_was_lost_is_found_by_the_lookup(tryton_server: TrytonServer):
    invoice = tryton_invoice()
    lossy = LoseAnswer("model.account.invoice.post")
    async with connect(tryton_server, lossy) as erp:
        with pytest.raises(ErpOutcomeUnknown):
            await erp.post_supplier_invoice(invoice)
        [found] = await erp.find_supplier_invoices(invoice.supplier_id, invoice.supplier_invoice_ref)
        assert (await erp.post_supplier_invoice(invoice)).erp_document == found.erp_document
        assert await count_invoices(erp, invoice.supplier_id, invoice.supplier_invoice_ref) == 1
        same_amount = await erp.invoices_of_amount(invoice.supplier_id, "2710", Decimal("1190.00"), "EUR")
        assert found.erp_document.invoice_document in [o.document for o in same_amount]
        assert await erp.invoices_of_amount(invoice.supplier_id, "2710", Decimal("1190.01"), "EUR") == []


async def test_claim_release_and_block(erp: TrytonErp):
    posted = await erp.post_supplier_invoice(tryton_invoice())
    doc = posted.erp_document
    assert await erp.claim_for_payment_run([doc], "RUN-A", TODAY) == {doc.invoice_document: None}
    assert await erp.claim_for_payment_run([doc], "RUN-A", TODAY) == {doc.invoice_document: None}  # idempotent
    refused = await erp.claim_for_payment_run([doc], "RUN-B", TODAY)
    assert "already in payment run RUN-A" in (refused[doc.invoice_document] or "")
    item = await erp.open_item(doc, "2710")
    assert item is not None and (item.payment_run_id, item.payment_run_date, item.is_cleared) == ("RUN-A", TODAY,
                                                                                                False)
    assert await erp.release_from_payment_run([doc], "RUN-B") == 0  # another run's claim stays
    assert await erp.release_from_payment_run([doc], "RUN-A") == 1
    assert await erp.claim_for_payment_run([doc], "RUN-B", TODAY) == {doc.invoice_document: None}
    await erp.set_payment_block(doc, "bank-details")
    item = await erp.open_item(doc, "2710")
    assert item is not None and (item.payment_block, item.payment_run_id) == ("blocked", "")  # Tryton drops drafts
    assert "payment-blocked" in ((await erp.claim_for_payment_run([doc], "RUN-C", TODAY))[doc.invoice_document] or "")
    await erp.set_payment_block(doc, "")
    assert await erp.claim_for_payment_run([doc], "RUN-C", TODAY) == {doc.invoice_document: None}
    unknown = ErpDocument(invoice_document="SI2710-1999-99999", fiscal_year="1999", accounting_document="0")
    assert "does not exist" in ((await erp.claim_for_payment_run([unknown], "RUN-C", TODAY))[
        unknown.invoice_document] or "")


async def test_a_statement_clears_and_a_return_reopens(erp: TrytonErp):
    posted = await erp.post_supplier_invoice(tryton_invoice())
    doc = posted.erp_document
    await erp.claim_for_payment_run([doc], "RUN-S", TODAY)
    first = statement(paid(posted))
    posting = await erp.post_bank_statement(first)
    assert [line.invoice_document for line in posting.cleared] == [doc.invoice_document]
    assert (posting.unprocessed, posting.reopened) == ([], [])
    item = await erp.open_item(doc, "2710")
    assert item is not None and item.is_cleared and item.clearing_date == TODAY and not item.clearing_is_reversed
    assert item.payment_run_id == ""  # clearing released the run's claim
    assert "cleared" in ((await erp.claim_for_payment_run([doc], "RUN-T", TODAY))[doc.invoice_document] or "")
    assert await erp.cleared_by_statement(item, first.statement_id or "")
    with pytest.raises(ErpBusinessError) as refused:  # Tryton would take it twice; the adapter does not
        await erp.post_bank_statement(first)
    assert refused.value.code == "TRYTON/STATEMENT_POSTED"

    back = await erp.post_bank_statement(statement(returned(posted)))
    assert [line.invoice_document for line in back.reopened] == [doc.invoice_document]
    item = await erp.open_item(doc, "2710")
    assert item is not None and not item.is_cleared and item.clearing_is_reversed
    state = await erp.rpc.search_read("account.invoice", [("number", "=", doc.invoice_document)], ["state"])
    assert state[0]["state"] == "posted"  # open again: a new attempt can pay it
    assert await erp.claim_for_payment_run([doc], "RUN-T", TODAY) == {doc.invoice_document: None}
    again = await erp.post_bank_statement(statement(paid(posted)))
    assert [line.invoice_document for line in again.cleared] == [doc.invoice_document]
    item = await erp.open_item(doc, "2710")
    assert item is not None and item.is_cleared


async def test_equal_references_and_amounts_of_two_suppliers_never_cross_clear(erp: TrytonErp):
    reference = unique_ref("DUP")
    first = await erp.post_supplier_invoice(tryton_invoice("2700001", reference))
    second = await erp.post_supplier_invoice(tryton_invoice("2700002", reference))
    assert first.erp_document != second.erp_document
    # The supplier's reference alone names two invoices: reported, nothing cleared.
    ambiguous = await erp.post_bank_statement(statement(paid(first, reference)))
    assert ambiguous.cleared == [] and "does not say which" in ambiguous.unprocessed[0].reason
    # Our document numbers name each one: each is cleared exactly once, by its own payment.
    posting = await erp.post_bank_statement(statement(paid(first), paid(second), paid(first)))
    assert sorted(line.invoice_document for line in posting.cleared) == sorted(
        [first.erp_document.invoice_document, second.erp_document.invoice_document])
    assert [u.line for u in posting.unprocessed] == ["3"]  # the second payment of `first` would pay twice
    for posted in (first, second):
        item = await erp.open_item(posted.erp_document, "2710")
        assert item is not None and item.is_cleared and item.supplier_id == posted.supplier_id


async def test_entries_finsync_can_not_attribute_are_left_out(erp: TrytonErp):
    received = StatementEntry(amount=Decimal("50.00"), currency="EUR", direction="CRDT", booking_date=TODAY)
    posting = await erp.post_bank_statement(statement(received))
    assert posting.tryton_statement == "" and posting.left_out[0][1].startswith("money received")
    with pytest.raises(ErpBusinessError) as unknown:
        await erp.post_bank_statement(statement(received).model_copy(update={"account_iban": "DE89370400440532013000"}))
    assert unknown.value.code == "TRYTON/NO_STATEMENT_JOURNAL"


async def test_entries_naming_our_document_clear_it_and_clearing_states_read_it_back(erp: TrytonErp):
    reference = unique_ref("OWN")
    first = await erp.post_supplier_invoice(tryton_invoice("2700001", reference))
    second = await erp.post_supplier_invoice(tryton_invoice("2700002", reference))
    assert (first.erp_document.erp, second.erp_document.erp) == ("tryton", "tryton")
    documents = [first.erp_document.accounting_document, second.erp_document.accounting_document]

    def ours(posted: PostedInvoice) -> StatementEntry:  # as the inbox passes it on: the register's document
        return paid(posted, reference).model_copy(update={"erp_document": posted.erp_document.accounting_document})

    # The supplier's reference names both invoices; our document names the one the payment was for.
    number = statement(ours(second))
    posting = await erp.post_bank_statement(number)
    assert ([line.accounting_document for line in posting.cleared], posting.unprocessed) == ([documents[1]], [])
    states = await erp.clearing_states([*documents, "0", "not-a-move"])
    assert sorted(states) == sorted(documents)
    [open_one], [cleared] = states[documents[0]], states[documents[1]]
    assert (open_one.cleared, open_one.reopened, open_one.amount, open_one.company_code) == (
        False, False, Decimal("1190.00"), "2710")
    assert cleared.cleared and cleared.clearing_date == TODAY and cleared.fiscal_year == str(TODAY.year)
    assert await erp.cleared_by_statement(cleared, number.statement_id or "")
    assert not await erp.cleared_by_statement(open_one, number.statement_id or "")

    await erp.post_bank_statement(statement(ours(second).model_copy(update={
        "direction": "CRDT", "is_return": True, "return_reason_code": "MD07"})))
    [reopened] = (await erp.clearing_states([documents[1]]))[documents[1]]
    assert reopened.reopened and not reopened.cleared
    stranger = await erp.post_bank_statement(statement(ours(first).model_copy(update={"erp_document": "0"})))
    assert stranger.cleared == [] and "no invoice of this company" in stranger.unprocessed[0].reason



async def test_invoices_posted_at_once_get_numbers_of_their_own(tryton_server: TrytonServer):
    # Lifecycles post at the same moment: Tryton on SQLite does not lock its invoice sequence,
    # so overlapping posts were numbered alike; the adapter sends one write at a time.
    async with connect(tryton_server) as one, connect(tryton_server) as other:
        invoices = [tryton_invoice(supplier) for supplier in ("2700001", "2700002", "2700001", "2700002")]
        posted = await asyncio.gather(*[port.post_supplier_invoice(invoice)
                                        for port, invoice in zip((one, other, one, other), invoices, strict=True)])
        books = await one.rpc.search_read("account.invoice", [
            ("reference", "in", [i.supplier_invoice_ref for i in invoices])], ["number", "move"])
    assert len({p.erp_document.invoice_document for p in posted}) == 4, posted
    assert len({b["number"] for b in books}) == len({b["move"] for b in books}) == 4, books
