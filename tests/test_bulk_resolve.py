"""One owner resolves many cases at once: `python -m cli resolve --query …` against the real
dev server and mock-sap. Each lifecycle's own `resolve` update decides, so what cannot be
resolved is refused and printed, and only the cases the query names are touched. Each update
carries a decision token: signed per lifecycle by the development issuer for `--as`, or taken
from `--token-file` (production, where the command never signs and refuses without one)."""

import asyncio
import json
from contextlib import contextmanager
from datetime import UTC, datetime

from canonical.invoice import Invoice
from identity import keyring as decision_keys
from identity.dev_issuer import ensure_dev_issuer
from identity.keyring import Keyring
from tests import sap_admin
from tests.helpers import assert_eventually, invoice_json, new_worker, wait_for_status
from tests.test_reports import run_module
from workflows.invoice_lifecycle import InvoiceToPayment

BLOCKED = "1000015"


@contextmanager
def also_trusting(issuer, dev_dir):
    """The in-process worker trusts the stack's development issuer (in dev_dir) besides the run's."""
    dev, before = ensure_dev_issuer(dev_dir), decision_keys.installed()
    decision_keys.install(Keyring(issuer=issuer.keyring().issuer, keys={**issuer.keyring().keys,
                                                                          **dev.keyring().keys}))
    try:
        yield
    finally:
        decision_keys.install(before)


async def test_owner_resolves_every_hold_the_query_finds_in_one_command(client, temporal_address, sap_server, store,
                                                                         issuer, tmp_path):
    await sap_admin.set_supplier_blocked(sap_server, BLOCKED, True)
    dev_dir = tmp_path / "identity"
    env = {"FINSYNC_IDENTITY_DEV_DIR": str(dev_dir)}
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
            resolve = ["cli", "resolve", "--query", query, "--resolution", "unblocked in SAP"]
            dry = await asyncio.to_thread(run_module, *resolve, "--as", "md.mia", "--dry-run",
                                          address=temporal_address, env=env)
            assert dry.returncode == 0 and dry.stdout.count("would resolve") >= 5, dry.stdout + dry.stderr
            production = await asyncio.to_thread(run_module, *resolve, "--as", "md.mia", address=temporal_address,
                                                 env={**env, "FINSYNC_ENVIRONMENT": "production"})
            unknown = await asyncio.to_thread(run_module, *resolve, "--as", "md.maria", address=temporal_address,
                                              env=env)
            with also_trusting(issuer, dev_dir):
                done = await asyncio.to_thread(run_module, *resolve, "--as", "md.mia", address=temporal_address,
                                               env=env)
                assert done.returncode == 0, done.stdout + done.stderr
                views = await asyncio.gather(*(wait_for_status(h, "SCHEDULED") for h in handles[:5]))
            # The identity provider's tokens, from a file: only the lifecycle it has one for is resolved.
            token = issuer.issue("md.mia", workflow_id=other.workflow_id, decision="resolve", now=datetime.now(UTC))
            (tmp_path / "tokens.json").write_text(json.dumps({other.workflow_id: token}))
            (tmp_path / "none.json").write_text("{}")
            by_id = ["cli", "resolve", "--query", f'WorkflowId="{other.workflow_id}"', "--resolution", "asked MD"]
            missing = await asyncio.to_thread(run_module, *by_id, "--token-file", str(tmp_path / "none.json"),
                                              address=temporal_address)
            from_file = await asyncio.to_thread(run_module, *by_id, "--token-file", str(tmp_path / "tokens.json"),
                                                address=temporal_address)
            other_view = await handles[5].query(InvoiceToPayment.status)
            for h in handles:
                await h.terminate("test done")
    finally:
        await sap_admin.set_supplier_blocked(sap_server, BLOCKED, False)
    assert production.returncode != 0 and "pass --token-file" in production.stdout + production.stderr
    assert unknown.returncode != 0 and "not in the development directory" in unknown.stdout + unknown.stderr
    assert all(v.closed_exceptions[-1].resolved_by == "md.mia" for v in views)
    assert all(v.decisions[-1].action == "resolve" and v.decisions[-1].who == "md.mia" for v in views)
    assert "5 of 5 lifecycles resolved" in done.stdout or done.stdout.count("resolved ") >= 5
    assert missing.returncode == 1 and "no decision token for it" in missing.stdout, missing.stdout + missing.stderr
    assert from_file.returncode == 0 and "1 of 1 lifecycles resolved" in from_file.stdout, from_file.stdout
    assert other_view.closed_exceptions[-1].resolved_by == "md.mia"
    assert other_view.open_exception is not None and other_view.open_exception.type != "SupplierBlocked"
