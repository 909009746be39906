"""Two suppliers' invoices with one reference and amount against a real mock-sap: SAP clears a
statement line by reference and amount only, so a run never has both claimed at once (issue 12
item 5), and each is cleared once, by the line that paid it."""

import uuid
from datetime import date

import pytest

from activities.statement_posting import _not_our_documents
from adapters.sap import SapBusinessError, SapClient
from adapters.sap_clearing_twins import TWIN_CLAIMED
from adapters.sap_payments import SapPayments
from adapters.sap_run_claims import SapRunClaims
from canonical.erp import PostedInvoice
from canonical.invoice import Invoice
from tests.adapters.test_sap_payments import entry, statement

RUN_DATE = date(2026, 10, 5)


async def post(sap: SapClient, supplier: str, reference: str, gross: str = "500.00",
               currency: str = "EUR") -> PostedInvoice:
    invoice = Invoice(
        company_code="1710", supplier_id=supplier, supplier_invoice_ref=reference, invoice_date=date(2026, 9, 20),
        currency=currency, net_amount=gross, tax_amount="0.00", gross_amount=gross,
        payment_terms={"code": "NT30", "net_days": 30},
        lines=[{"line_no": 1, "description": "Parts", "net_amount": gross}])
    return await sap.post_supplier_invoice(invoice)


def shared_reference() -> str:
    return "T" + uuid.uuid4().hex[:9].upper()


async def test_a_run_claims_one_of_two_twins_and_the_other_after_the_first_is_cleared(sap):
    reference = shared_reference()
    globex, umbrella = await post(sap, "1000013", reference), await post(sap, "1000016", reference)
    claims, payments = SapRunClaims(sap), SapPayments(sap)

    outcome = await claims.claim([globex.erp_document, umbrella.erp_document], "RUN1", RUN_DATE)
    assert outcome[globex.erp_document.invoice_document] is None
    refusal = outcome[umbrella.erp_document.invoice_document]
    assert refusal and "could not tell the two payments apart" in refusal and "RUN1" in refusal
    assert (await payments.open_item(umbrella.erp_document, "1710")).payment_run_id == ""
    # A retried chunk answers the same and writes nothing new.
    assert await claims.claim([globex.erp_document, umbrella.erp_document], "RUN1", RUN_DATE) == outcome
    # Another run (another paying account) is refused too, one invoice at a time as in a batch.
    with pytest.raises(SapBusinessError) as caught:
        await payments.claim_for_payment_run(umbrella.erp_document, "RUN2", RUN_DATE)
    assert caught.value.code == TWIN_CLAIMED

    # The statement pays GLOBEX: SAP finds two items quoting the reference for the amount and
    # takes the one claimed, which is the one paid.
    account = f"NL00MOCK{uuid.uuid4().int % 10**10:010d}"
    first = statement([entry("500.00", reference=reference, e2e="E2E-GLOBEX")], account=account, number="1")
    posting = await payments.post_bank_statement(first)
    [cleared] = posting.cleared
    assert (cleared.end_to_end_id, cleared.accounting_document) == (
        "E2E-GLOBEX", globex.erp_document.accounting_document)
    assert not (await payments.open_item(umbrella.erp_document, "1710")).is_cleared

    # Once GLOBEX is cleared its claim is gone, so Umbrella's invoice goes in the next run.
    assert (await claims.claim([umbrella.erp_document], "RUN2", RUN_DATE)) == {
        umbrella.erp_document.invoice_document: None}
    second = statement([entry("500.00", reference=reference, e2e="E2E-UMBRELLA")], account=account, number="2",
                       opening=str(first.closing_balance))
    [cleared] = (await payments.post_bank_statement(second)).cleared
    assert (cleared.end_to_end_id, cleared.accounting_document) == (
        "E2E-UMBRELLA", umbrella.erp_document.accounting_document)
    for posted in (globex, umbrella):  # each cleared once, by its own line
        assert (await payments.open_item(posted.erp_document, "1710")).is_cleared


async def test_invoices_that_a_statement_line_tells_apart_are_claimed_together(sap):
    reference = shared_reference()
    other_amount = await post(sap, "1000016", reference, gross="500.01")
    other_currency = await post(sap, "1000016", reference, currency="USD")
    same_supplier = [await post(sap, "1000013", reference), await post(sap, "1000013", reference)]
    docs = [p.erp_document for p in (*same_supplier, other_amount, other_currency)]
    # A duplicate posting of one supplier is settled once by SAP either way: not the twins' case.
    outcome = await SapRunClaims(sap).claim(docs, "RUN3", RUN_DATE)
    assert outcome == {d.invoice_document: None for d in docs}


async def test_an_item_cleared_with_another_documents_payment_is_reported(sap):
    """Twins claimed before this rule (or a claim taken off by hand in SAP): SAP clears the claimed
    twin with the other one's money. finsync knows each line's own document from the payment
    register and says so, for treasury to reverse."""
    reference = shared_reference()
    globex, umbrella = await post(sap, "1000013", reference), await post(sap, "1000016", reference)
    payments = SapPayments(sap)
    await payments.claim_for_payment_run(globex.erp_document, "RUN4", RUN_DATE)
    # Umbrella's payment on the statement, its document known from the register.
    paid = statement([entry("500.00", reference=reference, e2e="E2E-UMBRELLA",
                            erp_document=umbrella.erp_document.accounting_document)])
    posting = await payments.post_bank_statement(paid)
    [cleared] = posting.cleared
    assert cleared.accounting_document == globex.erp_document.accounting_document  # SAP took the claimed twin
    [problem] = _not_our_documents("ACME:00001", paid, posting)
    assert (f"cleared document {globex.erp_document.accounting_document} with the payment E2E-UMBRELLA, which was "
            f"for document {umbrella.erp_document.accounting_document}: another invoice's item") in problem
    right = paid.model_copy(update={"entries": [paid.entries[0].model_copy(
        update={"erp_document": globex.erp_document.accounting_document})]})
    assert _not_our_documents("ACME:00001", right, posting) == []
