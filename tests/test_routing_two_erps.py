"""Two legal entities on two ERPs in one payment-run day, against the dev server, mock-sap,
a real Tryton server and mock-bank: company code 1710 (SAP) pays from ACME, 2710 (Tryton) from
ACMEDE. Each company's run claims in its own ERP and sends its own file from its own account;
each account's statement is posted to its company's ERP, which clears its own invoice."""

import pytest
from sqlmodel import Session, col, select

from adapters.payment_run_store import SENT, PaymentRunStore
from adapters.sap import SapClient
from adapters.sap_erp import SapErp
from adapters.statement_register import PostedStatementRow
from canonical.invoice import Invoice
from tests import bank_admin, sap_admin
from tests.clock import business_today
from tests.helpers import invoice_json, new_worker, path, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.tryton_flow import claims_of, tryton_erps, tryton_invoice, tryton_invoices
from workflows.invoice_lifecycle import InvoiceToPayment

pytestmark = [pytest.mark.clock_sensitive, pytest.mark.usefixtures("acmede_bank")]


async def test_two_companies_on_two_erps_each_pay_from_their_own_account_and_clear_in_their_own_erp(
        client, sap_server, bank_server, fresh_tryton, store):
    invoices = {"ACME": Invoice.model_validate(invoice_json(supplier_id="1000013")),
                "ACMEDE": tryton_invoice("2700003")}
    async with tryton_erps(fresh_tryton) as erps, \
            new_worker(client, sap_server, store, bank_url=bank_server, erps=erps) as worker:
        handles = {account: await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                                        task_queue=worker.task_queue)
                   for account, invoice in invoices.items()}
        for handle in handles.values():
            await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            runs = {account: await pay(client, worker.task_queue, account=account) for account in handles}
            views = {account: await advance_until(handle, "COMPLETED", bank_server)
                     for account, handle in handles.items()}
        tryton_books = await tryton_invoices(erps["tryton"], "2700003", invoices["ACMEDE"].supplier_invoice_ref)
        tryton_item = await erps["tryton"].open_item(views["ACMEDE"].erp_document, "2710")
        tryton_claims = await claims_of(erps["tryton"], views["ACMEDE"].erp_document.invoice_document)
        sap_invoice_in_tryton = await tryton_invoices(erps["tryton"], "1000013", invoices["ACME"].supplier_invoice_ref)
    async with SapClient(sap_server) as sap:
        sap_item = await SapErp(sap).open_item(views["ACME"].erp_document, "1710")

    # One run per paying account on one day: its own ERP run id, its own single-invoice file.
    assert len({r.run_key for r in runs.values()}) == 2 and len({r.payment_run_id for r in runs.values()}) == 2, runs
    assert all(r.paid_invoices == 1 and len(r.message_ids) == 1 for r in runs.values()), runs
    assert len({r.message_ids[0] for r in runs.values()}) == 2, runs
    recorded = PaymentRunStore(store.engine)
    for account, run in runs.items():
        header = recorded.header(run.run_key)
        assert header is not None and (header.paying_account_id, header.run_date) == (account, business_today())
        [file] = recorded.files(run.run_key)
        assert (file.message_id, file.payments, file.state) == (run.message_ids[0], 1, SENT), file
        [item] = recorded.items(run.run_key, (SENT,), 10)
        assert (item.invoice_key, item.message_id) == (invoices[account].key, file.message_id), item

    # Each lifecycle's history: its ERP's document, paid in its own account's file, cleared.
    for account, view in views.items():
        states = path(view)
        assert states[states.index("SCHEDULED"):] == [
            "SCHEDULED", "IN_PAYMENT_RUN", "SENT_TO_BANK", "ACCEPTED", "SETTLED", "CLEARED", "COMPLETED"], states
        [attempt] = view.payment_attempts
        assert (attempt.outcome, attempt.message_id) == ("settled", runs[account].message_ids[0]), attempt
        [booked] = await bank_admin.payments_for(bank_server, attempt.end_to_end_id)
        assert (booked["account_id"], booked["amount"]) == (account, 119000), booked
    assert (views["ACME"].erp_document.erp, views["ACMEDE"].erp_document.erp) == ("sap", "tryton")

    # Each account's statement was posted once, to its company's ERP (Tryton names its statements).
    with Session(store.engine) as session:
        posted = {row.statement_key: row.erp_reference for row in session.exec(
            select(PostedStatementRow).where(col(PostedStatementRow.erp_reference) != "pending"))}
    # SAP answers with an IDoc number, Tryton with its statement record.
    assert {(key.split(":")[0], reference.startswith("account.statement,")) for key, reference in posted.items()} \
        == {("ACME", False), ("ACMEDE", True)}, posted

    # Cleared in its own ERP, and only there.
    assert sap_item is not None and sap_item.is_cleared, sap_item
    assert tryton_item is not None and tryton_item.is_cleared, tryton_item
    assert [b["state"] for b in tryton_books] == ["paid"] and tryton_claims == [], (tryton_books, tryton_claims)
    assert not await sap_admin.invoices_in_erp(sap_server, "2700003", invoices["ACMEDE"].supplier_invoice_ref)
    assert sap_invoice_in_tryton == []
