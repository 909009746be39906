"""A finance engineer's path: the `temporal` CLI binary against the real dev server."""

import asyncio
import base64
import json
import shlex
import subprocess

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from canonical.invoice import Invoice
from canonical.status import InvoiceLifecycleStatus
from cli.processes import BIN
from tests import sap_admin
from tests.helpers import assert_eventually, decide, invoice_json, new_worker, run_module, wait_for_status

TEMPORAL = str(BIN / "temporal")


async def temporal(address: str, *args: str) -> subprocess.CompletedProcess:
    # In a thread: the worker under test shares this event loop and must keep answering.
    return await asyncio.to_thread(
        subprocess.run, [TEMPORAL, *args, "--address", address], capture_output=True, text=True, timeout=60
    )


async def cli_start(address: str, task_queue: str, workflow_id: str, payload: str,
                    *extra: str) -> subprocess.CompletedProcess:
    return await temporal(address, "workflow", "start", "--task-queue", task_queue, "--type", "InvoiceToPayment",
                    "--workflow-id", workflow_id, "--input", payload, *extra)


async def test_cli_start_reaches_scheduled_and_duplicate_start_is_one_lifecycle(client: Client, temporal_address,
                                                                                sap_server, store):
    body = invoice_json()
    invoice = Invoice.model_validate(body)
    async with new_worker(client, sap_server, store) as worker:
        first = await cli_start(temporal_address, worker.task_queue, invoice.workflow_id, json.dumps(body),
                          "--id-reuse-policy", "RejectDuplicate", "--fail-existing")
        assert first.returncode == 0, first.stderr
        again = await cli_start(temporal_address, worker.task_queue, invoice.workflow_id, json.dumps(body),
                          "--id-reuse-policy", "RejectDuplicate", "--fail-existing")
        assert again.returncode != 0 and "already" in (again.stderr + again.stdout).lower()
        # Without --fail-existing the CLI prints the existing run and exits 0: still one lifecycle.
        quiet = await cli_start(temporal_address, worker.task_queue, invoice.workflow_id, json.dumps(body))
        assert quiet.returncode == 0
        handle = client.get_workflow_handle(invoice.workflow_id)
        await wait_for_status(handle, "SCHEDULED")
        query = await temporal(temporal_address, "workflow", "query", "--workflow-id", invoice.workflow_id, "--name",
                               "status")
        assert query.returncode == 0 and "SCHEDULED" in query.stdout
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{invoice.workflow_id}'")]
        await handle.terminate("test done")
    assert len(runs) == 1
    assert len(await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)) == 1


async def test_cli_malformed_json_starts_nothing(client, temporal_address):
    invoice = Invoice.model_validate(invoice_json())
    result = await cli_start(temporal_address, "finsync-test-none", invoice.workflow_id, '{"company_code": "1710", ')
    assert result.returncode != 0
    assert [w async for w in client.list_workflows(f"WorkflowId = '{invoice.workflow_id}'")] == []


def failure_reason(history: dict) -> str:
    """The workflow failure's message and stack from its encoded attributes (plain JSON payload
    here: no bank details in it, so the codec left it unencrypted)."""
    failed = next(e for e in history["events"] if "workflowExecutionFailedEventAttributes" in e)
    attributes = failed["workflowExecutionFailedEventAttributes"]["failure"]["encodedAttributes"]
    return str(json.loads(base64.b64decode(attributes["data"]))["message"])


async def test_cli_bad_invoice_fails_the_workflow_with_the_reason(client, temporal_address, sap_server, store):
    """Float money, wrong totals, a missing field: the workflow fails at once with pydantic's
    message instead of retrying its first task forever; nothing is posted."""
    cases = {
        "float": (invoice_json(gross_amount=1190.0), "not the JSON number"),
        "totals": (invoice_json(gross_amount="1200.00"), "but the gross amount is 1200.00"),
        "lines": (invoice_json(net_amount="900.00", gross_amount="1090.00"), "the lines add up to 1000.00"),
        "missing": ({k: v for k, v in invoice_json().items() if k != "currency"}, "currency"),
    }
    async with new_worker(client, sap_server, store) as worker:
        for name, (body, message) in cases.items():
            ref = body["supplier_invoice_ref"]
            workflow_id = f"invoice-1710-{body['supplier_id']}-{ref}"
            assert (await cli_start(temporal_address, worker.task_queue, workflow_id, json.dumps(body))).returncode == 0
            handle = client.get_workflow_handle(workflow_id)

            async def failed(handle=handle, name=name):
                described = await handle.describe()
                assert described.status == WorkflowExecutionStatus.FAILED, (name, described.status)

            await assert_eventually(failed, timeout=15)
            shown = await temporal(temporal_address, "workflow", "show", "--workflow-id", workflow_id, "--output",
                                   "json")
            # Failure messages are encoded (architecture invariant 9): the CLI shows "Encoded failure",
            # and the reason is in the failure's encoded attributes (the codec server decodes them).
            reason = failure_reason(json.loads(shown.stdout))
            assert "Encoded failure" in shown.stdout and "ValidationError" in shown.stdout, (name, shown.stdout[-2000:])
            assert message in reason, (name, reason)
            assert await sap_admin.invoices_in_erp(sap_server, body["supplier_id"], ref) == []


async def test_corrected_invoice_starts_after_a_failed_start_and_no_invoice_starts_twice(
        client, temporal_address, sap_server, store, tmp_path, issuer):
    """The README's start command (`python -m cli start-command`), run as printed: after a start
    whose input failed validation, the corrected invoice starts under the same id; a running or a
    completed lifecycle is refused (non-zero exit), never a second lifecycle."""
    body = invoice_json()
    invoice = Invoice.model_validate(body)
    (tmp_path / "invoice.json").write_text(json.dumps(body))
    printed = await asyncio.to_thread(run_module, "cli", "start-command", str(tmp_path / "invoice.json"),
                                      address=temporal_address)
    assert printed.returncode == 0, printed.stderr
    command = shlex.split(printed.stdout)[1:]  # without the leading `temporal`
    async with new_worker(client, sap_server, store) as worker:
        command[command.index("--task-queue") + 1] = worker.task_queue
        typo = list(command)
        typo[typo.index("--input") + 1] = json.dumps({**body, "gross_amount": "1200.00"})  # net + tax is 1190.00
        assert (await temporal(temporal_address, *typo)).returncode == 0
        handle = client.get_workflow_handle(invoice.workflow_id, result_type=InvoiceLifecycleStatus)

        async def failed():
            assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED

        await assert_eventually(failed, timeout=15)
        corrected = await temporal(temporal_address, *command)
        assert corrected.returncode == 0, corrected.stderr
        await wait_for_status(handle, "SCHEDULED")
        while_running = await temporal(temporal_address, *command)
        await decide(handle, issuer, "cancel", "ap.alice", reason="test done")
        cancelled = await handle.result()
        once_ended = await temporal(temporal_address, *command)
        runs = [w async for w in client.list_workflows(f"WorkflowId = '{invoice.workflow_id}'")]
        events = (await handle.fetch_history()).events
    # The facts memo the CLI wrote (JSON) is what the lifecycle would write: it writes none.
    assert not [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED]
    assert while_running.returncode != 0 and "already running" in (while_running.stderr + while_running.stdout).lower()
    assert cancelled.status.value == "CANCELLED"
    assert once_ended.returncode != 0 and "already" in (once_ended.stderr + once_ended.stdout).lower(), once_ended
    assert sorted(r.status.name for r in runs) == ["COMPLETED", "FAILED"]
    assert len(await sap_admin.invoices_in_erp(sap_server, invoice.supplier_id, invoice.supplier_invoice_ref)) == 1


def payloads_in(node) -> list[Payload]:
    """Every payload in a `temporal workflow show --output json` export (protojson: base64)."""
    if isinstance(node, dict):
        if isinstance(node.get("metadata"), dict) and isinstance(node.get("data"), str):
            return [Payload(metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
                            data=base64.b64decode(node["data"]))]
        return [p for value in node.values() for p in payloads_in(value)]
    if isinstance(node, list):
        return [p for value in node for p in payloads_in(value)]
    return []


async def test_bank_account_is_not_in_plain_history(client, temporal_address, sap_server, store):
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow("InvoiceToPayment", invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        shown = await temporal(temporal_address, "workflow", "show", "--workflow-id", invoice.workflow_id, "--output",
                               "json")
        await handle.terminate("test done")
    assert shown.returncode == 0
    payloads = payloads_in(json.loads(shown.stdout))
    encrypted = [p for p in payloads if p.metadata.get("encoding") == b"binary/encrypted"]
    plain = [p for p in payloads if p.metadata.get("encoding") != b"binary/encrypted"]
    assert encrypted, "the validation result carries the bank account and must be encrypted"
    assert not any(b"NL14MOCK0000000002" in p.data or b"MOCKNL2A" in p.data for p in payloads)
    assert any(b"1190.00" in p.data for p in plain)  # the rest of the history stays readable
    # With the key, the codec gives the account back: it really was in that payload.
    clear = await client.data_converter.payload_codec.decode(encrypted)
    assert any(b"NL14MOCK0000000002" in p.data for p in clear)
