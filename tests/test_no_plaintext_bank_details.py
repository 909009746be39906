"""No account number in clear anywhere Temporal keeps or the worker logs (architecture invariant 9;
issue 9 items 7, 8). One scenario against the real dev server, mock-sap and mock-bank: a supplier
whose master data holds an IBAN schwifty refuses (its error quotes the BBAN), a supplier whose bank
details change under a scheduled invoice, and an invoice paid through to the bank's statement,
posted to the ERP. Then the full history of every workflow on the worker's task queue, as stored
(fetch_history: nothing decoded, encrypted payloads stay encrypted), and every log record of the
run are searched for each IBAN of the scenario, printed or compact, and its BBAN."""

import logging
import random
import uuid

import pytest
from temporalio.client import Client

from adapters.sap import SapClient
from canonical.vendors import BankDetailsChange, VendorSyncRequest, VendorSyncResult
from settings import DEFAULT_PAYING_ACCOUNTS
from tests import bank_admin, sap_admin
from tests.helpers import assert_eventually, make_invoice, new_worker, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.vendor_master_sync import VendorMasterSync


def forms(iban: str) -> set[bytes]:
    """The ways an account number can be written: compact, printed in groups of 4, its BBAN."""
    printed = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return {iban.encode(), printed.encode(), iban[4:].encode()}


async def supplier_with(sap_url: str, iban: str) -> str:
    supplier_id = f"8{random.randrange(10**6):06d}"
    await sap_admin.create_supplier(sap_url, supplier_id, f"Leak scan {supplier_id}")
    await sap_admin.add_bank_account(sap_url, supplier_id, "0001", iban, "MOCKNL2A")
    return supplier_id


async def sync(client: Client, task_queue: str) -> VendorSyncResult:
    return await client.execute_workflow(VendorMasterSync.run, VendorSyncRequest(full=True),
                                         id=f"vendor-master-sync-{uuid.uuid4().hex[:8]}", task_queue=task_queue)


async def raw_histories(client: Client, task_queue: str) -> dict[str, bytes]:
    """Every run of every workflow on the queue, as the server stores it (a proto, not decoded)."""
    found = {}
    async for execution in client.list_workflows(f"TaskQueue='{task_queue}'"):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        found[f"{execution.id}/{execution.run_id}"] = b"".join(e.SerializeToString() for e in history.events)
    return found


@pytest.mark.clock_sensitive
async def test_no_iban_in_clear_in_history_or_logs(client: Client, sap_server, bank_server, store, caplog):
    caplog.set_level(logging.DEBUG)
    # A fresh bank day: an earlier test's run 1 of this date would make this one's file a duplicate.
    await bank_admin.reset(bank_server)
    # SAP checks only the mod-97 digits: this one has them, and a letter where NL has digits.
    bad = sap_admin.iban_with_valid_checksum("NL", f"MOCK{random.randrange(10**9):09d}Z")
    old = sap_admin.iban_with_valid_checksum("NL", f"MOCK{random.randrange(10**10):010d}")
    new = sap_admin.iban_with_valid_checksum("NL", f"MOCK{random.randrange(10**10):010d}")
    refused, changing = await supplier_with(sap_server, bad), await supplier_with(sap_server, old)
    async with SapClient(sap_server) as sap:
        paid_supplier = await sap.get_supplier("1000013")
    assert paid_supplier is not None
    ibans = {bad, old, new, DEFAULT_PAYING_ACCOUNTS["ACME"].iban,
             *(a.iban for a in paid_supplier.bank_accounts if a.iban)}

    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        queue = worker.task_queue
        held = make_invoice(supplier_id=refused)
        held_handle = await client.start_workflow(InvoiceToPayment.run, held, id=held.workflow_id, task_queue=queue)
        view = await wait_for_status(held_handle, "ON_HOLD")
        assert view.open_exception is not None and view.open_exception.type == "InvalidBankAccount"

        await sync(client, queue)  # the baseline: both suppliers' accounts, one refused by schwifty
        scheduled = make_invoice(supplier_id=changing)
        changed_handle = await client.start_workflow(InvoiceToPayment.run, scheduled, id=scheduled.workflow_id,
                                                     task_queue=queue)
        await wait_for_status(changed_handle, "SCHEDULED")

        async def visible() -> None:  # the sync finds the supplier's lifecycles in visibility
            query = f"WorkflowType='InvoiceToPayment' AND SupplierId='{changing}' AND ExecutionStatus='Running'"
            assert [w.id async for w in client.list_workflows(query)] == [scheduled.workflow_id]
        await assert_eventually(visible)
        await sap_admin._write(sap_server, "PATCH", f"{sap_admin.BP}/A_BusinessPartnerBank(BusinessPartner="
                               f"'{changing}',BankIdentification='0001')", {"IBAN": new})
        result = await sync(client, queue)
        assert [c.supplier_id for c in result.bank_changes if isinstance(c, BankDetailsChange)] == [changing]
        view = await wait_for_status(changed_handle, "ON_HOLD")
        assert view.open_exception is not None and view.open_exception.type == "BankDetailsChanged"

        paid = make_invoice(supplier_id="1000013")
        paid_handle = await client.start_workflow(InvoiceToPayment.run, paid, id=paid.workflow_id, task_queue=queue)
        await wait_for_status(paid_handle, "SCHEDULED")
        async with bank_inbox(client, queue):
            await pay(client, queue)
            await advance_until(paid_handle, "COMPLETED", bank_server)  # cleared from the posted statement
        for handle in (held_handle, changed_handle):
            await handle.terminate("leak scan done")
        histories = await raw_histories(client, queue)

    assert any(w.startswith("statement-post-") for w in histories), "the scenario posted no statement"
    leaks = sorted({f"{what.decode()} in history of {workflow}" for workflow, raw in histories.items()
                    for iban in ibans for what in forms(iban) if what in raw})
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(formatter.format(record) for record in caplog.records).encode()
    leaks += sorted({f"{what.decode()} in the log" for iban in ibans for what in forms(iban) if what in logged})
    assert leaks == []
