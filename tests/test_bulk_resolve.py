"""One owner resolves many cases at once: `python -m cli resolve --query …` against the real
dev server and mock-sap. Each lifecycle's own `resolve` update decides, so what cannot be
resolved is refused and printed, and only the cases the query names are touched."""

import asyncio

from canonical.invoice import Invoice
from tests import sap_admin
from tests.helpers import assert_eventually, invoice_json, new_worker, wait_for_status
from tests.test_reports import run_module
from workflows.invoice_lifecycle import InvoiceToPayment

BLOCKED = "1000015"


async def test_owner_resolves_every_hold_the_query_finds_in_one_command(client, temporal_address, sap_server, store):
    await sap_admin.set_supplier_blocked(sap_server, BLOCKED, True)
    try:
        held = [Invoice.model_validate(invoice_json(supplier_id=BLOCKED)) for _ in range(5)]
        other = Invoice.model_validate(invoice_json(bank_account_id="0009"))  # another case type: left alone
        async with new_worker(client, sap_server, store) as worker:
            handles = [await client.start_workflow(InvoiceToPayment.run, i, id=i.workflow_id,
                                                   task_queue=worker.task_queue)
                       for i in [*held, other]]
            await asyncio.gather(*(wait_for_status(h, "ON_HOLD") for h in handles))
            query = f'ExceptionType="SupplierBlocked" AND SupplierId="{BLOCKED}"'

            async def visible():
                found = [w.id async for w in client.list_workflows(f"{query} AND ExecutionStatus='Running'")]
                assert len(found) >= 5, found
            await assert_eventually(visible, timeout=20)
            await sap_admin.set_supplier_blocked(sap_server, BLOCKED, False)  # master data fixed the cause
            dry = await asyncio.to_thread(run_module, "cli", "resolve", "--query", query, "--as", "md.maria",
                                          "--resolution", "unblocked in SAP", "--dry-run", address=temporal_address)
            assert dry.returncode == 0 and dry.stdout.count("would resolve") >= 5, dry.stdout + dry.stderr
            done = await asyncio.to_thread(run_module, "cli", "resolve", "--query", query, "--as", "md.maria",
                                           "--resolution", "unblocked in SAP", address=temporal_address)
            assert done.returncode == 0, done.stdout + done.stderr
            views = await asyncio.gather(*(wait_for_status(h, "SCHEDULED") for h in handles[:5]))
            untouched = await handles[5].query(InvoiceToPayment.status)
            for h in handles:
                await h.terminate("test done")
    finally:
        await sap_admin.set_supplier_blocked(sap_server, BLOCKED, False)
    assert all(v.closed_exceptions[-1].resolved_by == "md.maria" for v in views)
    assert untouched.status.value == "ON_HOLD" and untouched.open_exception.type != "SupplierBlocked"
    assert "5 of 5 lifecycles resolved" in done.stdout or done.stdout.count("resolved ") >= 5
