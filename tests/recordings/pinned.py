"""The short workflows pinned to their build that the payment cycle does not cover:
Reconciliation with drifts of several kinds (one healed), the BankInbox continuing as new, and
VendorMasterSync finding a changed bank account, which holds the supplier's lifecycle until another
person confirms it (supplier controls). Each function returns {path name: history}."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client, WorkflowHistory

from adapters.payment_registers import PaymentRegisters
from adapters.sap import SapClient
from canonical.commands import LifecyclePolicy
from canonical.inbox import BankInboxConfig
from canonical.reconciliation import DriftKind, ReconciliationRequest
from canonical.treasury import ExpectedOutflow
from canonical.vendors import VendorSyncRequest
from tests import sap_admin
from tests.bank_files import foreign_payment_file
from tests.clock import business_today
from tests.helpers import assert_eventually, decision_input, make_invoice, session_issuer, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from tests.recordings.stack import session
from tests.test_reconciliation import first_look_at_erp, post_file
from workflows.bank_inbox import BankInbox
from workflows.reconciliation import Reconciliation
from workflows.vendor_master_sync import VendorMasterSync

# The embedded stack's 1710 paying from ACME (a request without them reconciles every legal entity).
SAMPLE_SCOPE = {"company_code": "1710", "paying_account_id": "ACME"}

Histories = dict[str, WorkflowHistory]


async def record_reconciliation(client: Client, tmp: Path) -> Histories:
    """As tests/test_reconciliation.py seeds them: an invoice posted straight into the ERP, a
    lifecycle settled and waiting while the ERP was cleared behind its back (safe: healed by a
    hint), an expected outflow for no invoice, and someone else's payment from our account."""
    async with session(client, tmp, "reconciliation") as s:
        registers = PaymentRegisters(s.store.engine)
        async with SapClient(s.sap_url) as sap:
            await sap.post_supplier_invoice(make_invoice(supplier_id="1000016", ref="REPLAY-STRAY"))
        handle = await s.start("REPLAY-RECON", policy=LifecyclePolicy(clearing_check_hours=1000))
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, s.task_queue):
            await post_file(s.bank_url, foreign_payment_file())
            await pay(client, s.task_queue)
            view = await advance_until(handle, "SETTLED", s.bank_url)
            await first_look_at_erp(handle)

            async def foreign_payment_noted():
                assert any("SOMEONE-ELSE-1" in problem for _, problem in registers.message_problems())

            await assert_eventually(foreign_payment_noted)
        # The inbox is gone: no statement reaches the ERP, which is then cleared by hand.
        await sap_admin.clear_by_hand(s.sap_url, view.erp_document)
        s.store.upsert_expected_outflow(ExpectedOutflow(
            invoice_key="1710-1000013-REPLAY-GHOST", company_code="1710", supplier_id="1000013", currency="EUR",
            amount=Decimal("77.10"), value_date=business_today()))
        run = await client.start_workflow(Reconciliation.run, ReconciliationRequest(**SAMPLE_SCOPE),
                                          id=f"reconciliation-1710-{s.task_queue}", task_queue=s.task_queue,
                                          execution_timeout=timedelta(minutes=1))
        report = await run.result()
        await wait_for_status(handle, "COMPLETED")
    kinds = {d.kind for d in report.drifts}
    assert {DriftKind.POSTED_WITHOUT_LIFECYCLE, DriftKind.ERP_CLEARED_LIFECYCLE_WAITING,
            DriftKind.OUTFLOW_WITHOUT_INVOICE} <= kinds, kinds
    assert [d.kind for d in report.drifts if d.healed] == [DriftKind.ERP_CLEARED_LIFECYCLE_WAITING]
    return {"reconciliation": await run.fetch_history()}


async def record_inbox_continued(client: Client, tmp: Path) -> Histories:
    """The BankInbox's own ending, which the paid cycle's (terminated once read) never reaches:
    after `iterations_before_continue_as_new` polls (3 here, 200 by default) it continues as new
    onto the current build, carrying its problems. The first run's history ends in that command."""
    async with session(client, tmp, "inbox") as s:
        config = BankInboxConfig(poll_seconds=0.2, iterations_before_continue_as_new=3)
        inbox = await client.start_workflow(BankInbox.run, config, id=f"bank-inbox-{s.task_queue}",
                                            task_queue=s.task_queue)

        async def continued():
            assert (await inbox.describe()).run_id != inbox.result_run_id

        await assert_eventually(continued, timeout=30)
        history = await client.get_workflow_handle(inbox.id, run_id=inbox.result_run_id).fetch_history()
        await inbox.terminate("recorded")
    return {"bank-inbox-continued": history}


async def record_vendor_sync(client: Client, tmp: Path) -> Histories:
    """A supplier of its own (no other recording's lifecycle is told of its change): a first
    sync for the baseline, a lifecycle SCHEDULED, its IBAN changed in SAP, the second sync
    signals the lifecycle, which blocks the payment in the ERP for master data; md.anna, not
    the person who changed it, confirms (tests/test_vendor_master_sync.py, test_supplier_controls.py)."""
    supplier, old, new = "8000001", "MOCK0000000101", "MOCK0000000202"
    async with session(client, tmp, "vendors") as s:
        await sap_admin.create_supplier(s.sap_url, supplier, "Replay Vendor B.V.")
        await sap_admin.add_bank_account(s.sap_url, supplier, "0001", sap_admin.iban_with_valid_checksum("NL", old),
                                         "MOCKNL2A")
        await sync(s.client, s.task_queue, "baseline")
        handle = await s.start("REPLAY-BANKCHG", supplier_id=supplier)
        await wait_for_status(handle, "SCHEDULED")

        async def visible():  # the sync finds the supplier's lifecycles through visibility
            query = f"WorkflowType='InvoiceToPayment' AND SupplierId='{supplier}' AND ExecutionStatus='Running'"
            assert [w.id async for w in s.client.list_workflows(query)] == [handle.id]

        await assert_eventually(visible)
        await sap_admin._write(s.sap_url, "PATCH", f"{sap_admin.BP}/A_BusinessPartnerBank(BusinessPartner='{supplier}',"
                               "BankIdentification='0001')", {"IBAN": sap_admin.iban_with_valid_checksum("NL", new)})
        result, run = await sync(s.client, s.task_queue, "changed")
        assert result.lifecycles_signalled == [handle.id], result
        held = await wait_for_status(handle, "ON_HOLD")
        assert held.open_exception is not None and held.open_exception.type == "BankDetailsChanged", held.open_exception
        await handle.execute_update("confirm_bank_details", decision_input(
            session_issuer(), handle.id, "confirm_bank_details", "md.mia", note="called the supplier back"))
        await wait_for_status(handle, "SCHEDULED")
        histories = {"vendor-master-sync": await run.fetch_history(),
                     "lifecycle-bank-change-confirmed": await handle.fetch_history()}
        await handle.terminate("recorded")
    return histories


async def sync(client: Client, task_queue: str, name: str):
    run = await client.start_workflow(VendorMasterSync.run, VendorSyncRequest(),
                                      id=f"vendor-master-sync-{task_queue}-{name}", task_queue=task_queue,
                                      execution_timeout=timedelta(minutes=1))
    return await run.result(), run
