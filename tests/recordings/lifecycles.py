"""Lifecycle paths that need no bank: a hold resolved with a correction, a cancellation after
posting, an ERP post whose answer was lost, an overdue approval rejected, an e-invoice document
conflict, operator signals that do not apply, an ERP outage case, and the two runs that
continued as new. Each function returns {path name: history}."""

import dataclasses
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment

import workflows.activity_options as opts
from canonical.commands import LifecyclePolicy, PaymentRunInclusion
from canonical.invoice import Invoice
from cli.processes import BIN
from codec.bank_details import data_converter, load_codec
from settings import Settings
from tests import sap_admin
from tests.clock import business_today
from tests.evidence_helpers import side_case
from tests.helpers import TEST_CODEC_KEY, assert_eventually, decide, invoice_json, wait_for_status
from tests.recordings.stack import ISSUER, answered, session, start_einvoice
from tests.test_supplier_answers import lifecycle_for
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment

Histories = dict[str, WorkflowHistory]


async def record_holds_and_cancel(client: Client, tmp: Path) -> Histories:
    """sap_timeout 1 s: the slow post (mock-sap's `slow` answers after it) is a lost answer."""
    async with session(client, tmp, "holds", sap_timeout=1.0) as s:
        # Held for a bank account the ERP does not have, resolved with a corrected invoice, then reserved by a run.
        held = await s.start("REPLAY-HOLD", bank_account_id="0009")
        await wait_for_status(held, "ON_HOLD")
        corrected = Invoice.model_validate(invoice_json(ref="REPLAY-HOLD", bank_account_id="0001"))
        await s.decide(held, "resolve", "md.mia", resolution="account 0001", corrected_invoice=corrected)
        await wait_for_status(held, "AWAITING_APPROVAL")  # another payee: approved again
        await s.decide(held, "approve", "ap.bob")
        await wait_for_status(held, "SCHEDULED")
        await held.execute_update(InvoiceToPayment.reserve_for_payment_run, PaymentRunInclusion(
            payment_run_id="A11221", run_key="ACME-REPLAY-1", execution_date=business_today()))
        await wait_for_status(held, "IN_PAYMENT_RUN")
        # Posted, then cancelled: payment block in the ERP, outflow withdrawn, completed as CANCELLED.
        cancelled = await s.start("REPLAY-CANCEL", supplier_id="1000014")
        await wait_for_status(cancelled, "SCHEDULED")
        await s.decide(cancelled, "cancel", "ap.alice", reason="credit note")
        await cancelled.result()
        # A post with no answer (SAP slow): the settle window (5 s by the memo), a lookup that finds it.
        await sap_admin.add_fault(s.sap_url, {"match": "A_SupplierInvoice$", "method": "POST", "scenario": "slow",
                                              "count": 1})
        slow = await s.start("REPLAY-SLOW", supplier_id="1000015", policy=LifecyclePolicy(erp_settle_seconds=5))
        await wait_for_status(slow, "SCHEDULED", timeout=40)
        histories = {"lifecycle-hold-corrected": await held.fetch_history(),
                     "lifecycle-cancelled-after-post": await cancelled.fetch_history(),
                     "lifecycle-erp-lost-answer": await slow.fetch_history()}
        await held.terminate("recorded")
        await slow.terminate("recorded")
    return histories


async def record_rejection_and_conflict(client: Client, tmp: Path) -> Histories:
    """Two e-invoices (the supplier hears each answer, through mock-einvoice). One nobody approves
    within its SLA (1 s here, as tests/test_approvals.py does): the ApprovalOverdue case opens,
    then a rejection closes it and ends the lifecycle CANCELLED with nothing posted (answer RE).
    The other, approved in the AP platform, gets a second document under its number for another
    amount: a DuplicateReferenceConflict hold, resolved in words by AP, then reserved by a run
    (tests/test_supplier_controls.py)."""
    async with session(client, tmp, "rejection", einvoice=True) as s:
        overdue = await start_einvoice(s, "EI-REPLAY-REJ", policy=LifecyclePolicy(approval_sla_hours=1 / 3600))
        await assert_eventually(lambda: _open_case(overdue, "ApprovalOverdue"), timeout=20)
        await s.decide(overdue, "reject", "ap.bob", reason="not our order")
        assert (await overdue.result()).status.value == "CANCELLED"
        await answered(s.einvoice_url, "EI-REPLAY-REJ", ["AB", "RE"])

        conflicted = await start_einvoice(s, "EI-REPLAY-CONF", approved_by="ap.approver")
        await wait_for_status(conflicted, "SCHEDULED")
        _, receipt = lifecycle_for("EI-REPLAY-CONF")
        other = receipt.model_copy(update={"gross_amount": Decimal("1290.00"), "sha256": "0" * 64})
        await conflicted.signal(InvoiceToPayment.einvoice_received, other)
        await assert_eventually(lambda: _open_case(conflicted, "DuplicateReferenceConflict"))
        await s.decide(conflicted, "resolve", "ap.alice",
                       resolution="the 1190.00 document is right; the 1290.00 one was a draft")
        await wait_for_status(conflicted, "SCHEDULED")
        await conflicted.execute_update(InvoiceToPayment.reserve_for_payment_run, PaymentRunInclusion(
            payment_run_id="A11223", run_key="ACME-REPLAY-3", execution_date=business_today()))
        await answered(s.einvoice_url, "EI-REPLAY-CONF", ["AB", "AP"])  # a conflict tells the supplier nothing
        histories = {"lifecycle-approval-rejected": await overdue.fetch_history(),
                     "lifecycle-document-conflict": await conflicted.fetch_history()}
        await conflicted.terminate("recorded")
    return histories


async def _open_case(handle: WorkflowHandle, case_type: str) -> None:
    view = await handle.query(InvoiceToPayment.status)
    assert view.open_exception is not None and view.open_exception.type == case_type, view.open_exception


async def record_operator_inputs(client: Client, tmp: Path) -> Histories:
    """What a person types into `temporal workflow signal` that does not apply (tests/test_operator_inputs.py):
    sent by the CLI, so the payloads arrive as plain JSON, not through the codec."""
    async with session(client, tmp, "operator") as s:
        handle = await s.start("REPLAY-OPERATOR")
        await wait_for_status(handle, "SCHEDULED")
        sends = [("bank_rejected", {"reason_code": "AC04", "reported_by": "treasury.tom"}),  # a typo in the name
                 ("bank_rejection", {"reason_code": "ac4", "reported_by": "treasury.tom"}),  # a typo in the code
                 ("bank_status", {"status": 42})]  # the wrong shape
        for name, body in sends:
            sent = await s.cli("workflow", "signal", "--workflow-id", handle.id, "--name", name,
                               "--input", json.dumps(body))
            assert sent.returncode == 0, sent.stderr

        async def shown():
            case = side_case(await handle.query(InvoiceToPayment.status), "OperatorInputRejected")
            assert case is not None and case.reason.startswith("3 refusals"), case

        await assert_eventually(shown)
        history = await handle.fetch_history()
        await handle.terminate("recorded")
    return {"lifecycle-operator-inputs": history}


async def record_erp_outage(client: Client, tmp: Path) -> Histories:
    """The ERP refuses every post (503) past its outage SLA, shortened to 6 s as tests/test_outages.py
    does: an outage case for integration-ops opens, and closes itself once SAP answers again.
    The SLA is the activity's schedule-to-close, not a command's attribute Temporal compares on
    replay, so the history replays under the real 30 minutes."""
    real = opts.ERP
    opts.ERP = dataclasses.replace(real, start_to_close=timedelta(seconds=5), outage_sla=timedelta(seconds=6),
                                   settle_after_timeout=timedelta(seconds=5),
                                   retry=RetryPolicy(initial_interval=timedelta(milliseconds=200),
                                                     maximum_interval=timedelta(seconds=1)))
    try:
        async with session(client, tmp, "outage", sap_timeout=3.0) as s:
            await sap_admin.add_fault(s.sap_url, {"match": "A_SupplierInvoice$", "method": "POST", "status": 503})
            handle = await s.start("REPLAY-OUTAGE")

            async def outage_case():
                view = await handle.query(InvoiceToPayment.status)
                assert view.open_outages and view.open_outages[0].type == "ErpUnavailable", view.open_outages

            await assert_eventually(outage_case, timeout=40)
            await sap_admin.clear_faults(s.sap_url)
            view = await wait_for_status(handle, "SCHEDULED", timeout=40)
            assert [c.resolved_by for c in view.closed_exceptions if c.type == "ErpUnavailable"] == ["finsync"]
            history = await handle.fetch_history()
            await handle.terminate("recorded")
    finally:
        opts.ERP = real
    return {"lifecycle-erp-outage": history}


async def record_continued_as_new(client: Client, tmp: Path) -> Histories:
    """Lifecycles that continued as new, on a dev server of their own that suggests it at 40
    events, flooded with statement_posted hints until they did: the first run of one SCHEDULED
    (the continue-as-new command; its snapshot holds the IBAN, encrypted), the last run of one
    held for a missing bank account (resumed in the hold, resolved, scheduled, reserved by a run).
    `client` is not used: the suggestion is the dev server's configuration."""
    settings = Settings(codec_key=TEST_CODEC_KEY)
    suggest = ["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=40"]
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), data_converter=data_converter(load_codec(settings)),
        search_attributes=sa.ALL, dev_server_extra_args=suggest, dev_server_log_level="error",
    ) as env, session(env.client, tmp, "continued", sap_timeout=1.0) as s:
        handles = []
        for ref, waits_in, overrides in (("REPLAY-CAN-1", "SCHEDULED", {}),
                                         ("REPLAY-CAN-2", "ON_HOLD", {"bank_account_id": "0009"})):
            handle = await s.start(ref, **overrides)
            await wait_for_status(handle, waits_in)

            async def continued(handle=handle):
                for _ in range(5):
                    await handle.signal(InvoiceToPayment.statement_posted)
                assert (await handle.describe()).run_id != handle.result_run_id

            await assert_eventually(continued, timeout=60)
            handles.append(handle)
        scheduled, resumed = handles
        await decide(resumed, ISSUER, "resolve", "md.mia", resolution="account 0001", bank_account_id="0001")
        await wait_for_status(resumed, "AWAITING_APPROVAL")  # another payee: approved again
        await decide(resumed, ISSUER, "approve", "ap.bob")
        await wait_for_status(resumed, "SCHEDULED")
        await resumed.execute_update(InvoiceToPayment.reserve_for_payment_run, PaymentRunInclusion(
            payment_run_id="A11222", run_key="ACME-REPLAY-2", execution_date=business_today()))
        await wait_for_status(resumed, "IN_PAYMENT_RUN")
        first_run = env.client.get_workflow_handle(scheduled.id, run_id=scheduled.result_run_id)
        histories = {"lifecycle-continued-as-new": await first_run.fetch_history(),
                     "lifecycle-resumed-after-continue": await resumed.fetch_history()}  # no run id: the latest
        for handle in handles:
            await handle.terminate("recorded")
    return histories


async def record_possible_duplicate(client: Client, tmp: Path) -> Histories:
    """A reference equal to a posted one but for punctuation and case, for the same amount: held
    as a PossibleDuplicate before posting (nothing reaches the ERP), confirmed distinct by a
    verified AP person, then posted and scheduled (tests/test_near_duplicates.py)."""
    async with session(client, tmp, "duplicates") as s:
        first = await s.start("RPL-DUP-9001", shown=True)
        await wait_for_status(first, "SCHEDULED")
        second = await s.start("rpl dup 9001")
        await wait_for_status(second, "ON_HOLD")
        await s.decide(second, "confirm_not_duplicate", "ap.alice", note="two deliveries, confirmed by the buyer")
        await wait_for_status(second, "SCHEDULED")
        histories = {"lifecycle-possible-duplicate": await second.fetch_history()}
        for handle in (first, second):
            await handle.terminate("recorded")
    return histories
