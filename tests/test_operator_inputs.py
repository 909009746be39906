"""Operator input is validated or shown, never silently dropped: what a treasury engineer
types into `temporal workflow signal` (a typo in the name, a bad reason code, a payload of
the wrong shape) opens a visible case on the lifecycle; the update refuses at once."""

import json

from canonical.commands import ReportBankRejection
from canonical.invoice import Invoice
from tests.evidence_helpers import refusal, side_case
from tests.helpers import assert_eventually, decision_input, invoice_json, new_worker, wait_for_status
from tests.test_temporal_cli import temporal
from workflows.invoice_lifecycle import InvoiceToPayment


async def test_malformed_and_unknown_signals_open_a_visible_case(client, temporal_address, sap_server, store,
                                                                 issuer):
    invoice = Invoice.model_validate(invoice_json())
    async with new_worker(client, sap_server, store) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        sends = [("bank_rejected", {"reason_code": "AC04", "reported_by": "treasury.tom"}),  # a typo in the name
                 ("bank_rejection", {"reason_code": "ac4", "reported_by": "treasury.tom"}),  # a typo in the code
                 ("bank_status", {"status": 42})]  # the wrong shape
        for name, body in sends:
            sent = await temporal(temporal_address, "workflow", "signal", "--workflow-id", invoice.workflow_id,
                                  "--name", name, "--input", json.dumps(body))
            assert sent.returncode == 0, sent.stderr  # the CLI says "succeeded" whatever happens next

        async def shown():
            view = await handle.query(InvoiceToPayment.status)
            case = side_case(view, "OperatorInputRejected")
            assert case is not None and case.reason.startswith("3 refusals"), view.open_side_cases
            return view

        view = await assert_eventually(shown)
        notes = " | ".join(h.note for h in view.history)
        assert "no signal 'bank_rejected'" in notes and "'bank_rejection' not applied" in notes
        assert "'bank_status' not applied" in notes
        assert view.open_exception.type == "OperatorInputRejected" and view.open_exception.owner.value == "treasury-ops"
        assert view.status.value == "SCHEDULED" and view.payment_attempts == []
        # The update answers at once instead: nothing to reject before the payment went out.
        answer = await refusal(handle, InvoiceToPayment.report_bank_rejection, decision_input(
            issuer, handle.id, "report_bank_rejection", "treasury.tom", reason_code="AC04", end_to_end_id="1710-X/1"))
        assert "has no payment attempt at the bank" in answer
        await handle.terminate("test done")


def test_a_reason_code_outside_the_iso_list_is_refused_before_it_is_sent():
    for code in ("ac04", "AC4", "ZZ99"):
        try:
            ReportBankRejection(reason_code=code, end_to_end_id="X/1")
        except ValueError as err:
            assert "ISO 20022" in str(err) or "string" in str(err)
        else:
            raise AssertionError(f"{code} accepted")
