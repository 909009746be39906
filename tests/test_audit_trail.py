"""One invoice paid through the real mock-bank and cleared in the real mock-sap leaves its money
movements in the audit trail (sent, accepted, settled, cleared), read by `python -m cli audit`
as a person does; an entry edited or deleted by hand in the database is named by
`python -m cli audit verify` (architecture invariant 13)."""

import asyncio
import json
import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import text

from adapters.audit_log import AuditLog
from canonical.invoice import Invoice
from tests import bank_admin
from tests.helpers import REPO, invoice_json, new_worker, wait_for_history, wait_for_status
from tests.payment_helpers import advance_until, bank_inbox, pay
from workflows.invoice_lifecycle import InvoiceToPayment

pytestmark = pytest.mark.clock_sensitive
IBAN = re.compile(r"\b[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}\b")


@pytest.fixture(autouse=True)
async def fresh_bank(bank_server):
    await bank_admin.reset(bank_server)


async def _cli(store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FINSYNC_TREASURY_DB_URL": str(store.engine.url)}
    env.pop("FINSYNC_SECRETS_DIR", None)
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "cli", "audit", *args], cwd=REPO, env=env,
                                   capture_output=True, text=True, timeout=60)


def _sql(store, statement: str, **params) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(statement), params)


async def test_a_payment_cycle_leaves_its_money_movements_and_tampering_is_caught(client, sap_server, bank_server,
                                                                                  store):
    invoice = Invoice.model_validate(invoice_json(supplier_id="1000013"))
    async with new_worker(client, sap_server, store, bank_url=bank_server) as worker:
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        await wait_for_status(handle, "SCHEDULED")
        async with bank_inbox(client, worker.task_queue):
            summary = await pay(client, worker.task_queue)
            await wait_for_history(handle, "ACCEPTED")
            await advance_until(handle, "SETTLED", bank_server)
            view = await advance_until(handle, "COMPLETED", bank_server)
    [attempt] = view.payment_attempts
    e2e, [message_id] = attempt.end_to_end_id, summary.message_ids

    log = AuditLog(store.engine)
    everything = log.trail(invoice.key)
    # the AP platform's signed approval, a decision (workflows/decision_audit.py), then the money
    assert [(e.kind.value, e.actor) for e in everything if e.kind.value == "decision"] == [("decision", "ap.approver")]
    trail = [e for e in everything if e.kind.value == "money"]
    assert [e.entry_key for e in trail] == [f"{e2e}/{s}" for s in ("SENT", "ACCEPTED", "SETTLED", "CLEARED")]
    assert [e.actor for e in trail] == ["finsync", "bank", "bank", "erp"]
    sent, accepted, settled, cleared = (json.loads(e.after or "{}") for e in trail)
    assert (sent["amount"], sent["currency"], sent["message_id"]) == ("1190.00", "EUR", message_id)
    assert re.fullmatch(r"[A-Z]{2}\*{4}[0-9A-Z]{4}", sent["creditor_account"]), sent
    assert sent["debtor_account"] == "NL****0001"  # the paying account ACME, masked
    assert (accepted["status"], settled["status"], settled["amount"]) == ("ACCEPTED", "SETTLED", "1190.00")
    assert cleared["clearing_document"] and cleared["accounting_document"] == view.erp_document.accounting_document
    [file_entry] = log.trail(message_id)
    assert json.loads(file_entry.after or "{}")["sha256"] == sent["sha256"]  # the bytes sent (invariant 3)
    with store.engine.connect() as conn:  # no bank account in clear anywhere in the audit
        stored = " ".join(str(v) for row in conn.execute(text("SELECT * FROM audit_entry")) for v in row)
    assert IBAN.findall(stored) == []

    shown = await _cli(store, invoice.workflow_id)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:3] == ["when", "kind", "action"] and len(lines) == 6, shown.stdout  # 1 decision, 4 money
    assert "approve" in lines[1] and "ap.approver" in lines[1] and "ap-platform:" in lines[1]
    assert "settled by the bank" in lines[4] and "amount=1190.00" in lines[4] and "system:bank-inbox" in lines[4]
    intact = await _cli(store, "verify")
    total = len(list(log.entries()))
    assert (intact.returncode, intact.stdout.split(",")[0]) == (0, f"{total} entries"), intact
    assert "chain intact" in intact.stdout

    # Someone lowers the settled amount by hand: verify names that entry, exit 1.
    settled_seq = trail[2].seq
    _sql(store, """UPDATE audit_entry SET "after" = :after WHERE seq = :seq""", seq=settled_seq,
         after=(trail[2].after or "").replace('"amount":"1190.00"', '"amount":"11.90"'))
    edited = await _cli(store, "verify")
    assert edited.returncode == 1, edited
    assert f"audit chain broken at entry {settled_seq}: entry {settled_seq} does not match its hash" in edited.stderr

    # Put back, the chain holds again; then the acceptance is deleted: named as missing.
    _sql(store, """UPDATE audit_entry SET "after" = :after WHERE seq = :seq""", seq=settled_seq, after=trail[2].after)
    assert (await _cli(store, "verify")).returncode == 0
    _sql(store, "DELETE FROM audit_entry WHERE seq = :seq", seq=trail[1].seq)
    deleted = await _cli(store, "verify")
    assert deleted.returncode == 1, deleted
    assert f"audit chain broken at entry {trail[1].seq}: entry {trail[1].seq} is missing" in deleted.stderr
