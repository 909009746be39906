"""Vendor master sync against the real mock-sap and dev server: full read then delta, bad bank
details from SAP, duplicates, and a changed bank account told to the supplier's running
lifecycle. The session's mock-sap is shared, so each test makes its own suppliers and looks
only at those."""

import random
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, text

from activities.vendor_sync import VendorSyncActivities
from adapters.lifecycle_outbox import LifecycleOutbox
from adapters.sap import SapClient
from adapters.sap_erp import SapErp
from adapters.vendor_store import SUPPLIER_DELTA, VendorStore, VendorSyncStateRow
from canonical.vendors import (
    BankDetailsChange,
    VendorBankAccount,
    VendorIssueKind,
    VendorRecord,
    VendorSyncRequest,
    VendorSyncResult,
    find_duplicates,
    fingerprint,
    mask,
)
from settings import DEVELOPMENT_FINGERPRINT_KEY
from tests import sap_admin
from tests.helpers import assert_eventually, make_invoice, new_worker
from tests.schedules import run_scheduled_once
from workflows import search_attributes as sa
from workflows.invoice_lifecycle import InvoiceToPayment
from workflows.vendor_master_sync import VendorMasterSync


def fresh_iban(length_extra: int = 0) -> str:
    """A NL IBAN nobody else uses; `length_extra` digits more pass SAP (mod 97 only) but not schwifty."""
    return sap_admin.iban_with_valid_checksum("NL", f"MOCK{random.randrange(10**10):0{10 + length_extra}d}")


async def fresh_supplier(sap_url: str, iban: str | None = None) -> str:
    supplier_id = f"8{random.randrange(10**6):06d}"
    await sap_admin.create_supplier(sap_url, supplier_id, f"Vendor test {supplier_id}")
    await sap_admin.add_bank_account(sap_url, supplier_id, "0001", iban or fresh_iban(), "MOCKNL2A")
    return supplier_id


@asynccontextmanager
async def sync_worker(client, sap_server, store):
    """The usual worker, with the sync's activities on a store the test can look into."""
    vendors = VendorStore(store.engine)
    async with SapClient(sap_server) as sap:
        acts = VendorSyncActivities(client, SapErp(sap), vendors, LifecycleOutbox(store.engine),
                                    DEVELOPMENT_FINGERPRINT_KEY)
        async with new_worker(client, sap_server, store, extra_workflows=[VendorMasterSync],
                              extra_activities=[acts.sync_vendor_master, acts.queue_bank_change_signals]) as worker:
            yield worker, vendors


async def sync(client, worker, full: bool = False) -> tuple[VendorSyncResult, str]:
    wf_id = f"vendor-master-sync-{uuid.uuid4().hex[:8]}"
    result = await client.execute_workflow(VendorMasterSync.run, VendorSyncRequest(full=full), id=wf_id,
                                           task_queue=worker.task_queue, execution_timeout=timedelta(minutes=1))
    return result, wf_id


def about(result: VendorSyncResult, *supplier_ids: str) -> list:
    return [i for i in result.issues if set(i.supplier_ids) & set(supplier_ids)]


async def test_first_sync_reads_everything_then_only_the_delta(client, sap_server, store):
    iban = fresh_iban()
    a, b = await fresh_supplier(sap_server, iban), await fresh_supplier(sap_server)
    async with sync_worker(client, sap_server, store) as (worker, vendors):
        first, _ = await sync(client, worker)
        token = vendors.delta_token()
        await sap_admin.set_supplier_blocked(sap_server, a, True)
        second, _ = await sync(client, worker)
        with Session(store.engine) as session:  # SAP refuses a token it never issued: read in full
            session.merge(VendorSyncStateRow(name=SUPPLIER_DELTA, delta_token="'NOT-A-TOKEN'",
                                             synced_at=datetime.now(UTC)))
            session.commit()
        third, _ = await sync(client, worker)

    assert first.delta_token_used is None and {a, b, "1000013", "1000016"} <= set(first.supplier_ids_read)
    assert first.suppliers_read == first.suppliers_changed >= 10 and first.bank_changes == []
    assert token and second.delta_token_used == token
    assert second.supplier_ids_read == [a] and second.suppliers_changed == 1 and second.bank_changes == []
    assert third.delta_refused and third.delta_token_used is None and third.suppliers_read == first.suppliers_read
    stored = vendors.vendor(a)
    assert stored.is_blocked and not vendors.vendor(b).is_blocked
    keyed = fingerprint(iban, DEVELOPMENT_FINGERPRINT_KEY)
    assert stored.bank_accounts == [VendorBankAccount(bank_account_id="0001", country="NL", masked=mask(iban),
                                                      fingerprint=keyed, has_iban=True, iban_valid=True,
                                                      swift="MOCKNL2A")]
    with Session(store.engine) as session:  # the store keeps no full IBAN
        dump = str(session.exec(text("SELECT * FROM vendor_bank_account")).all())
    assert mask(iban) in dump and iban not in dump


async def test_invalid_iban_from_sap_is_a_master_data_case(client, sap_server, store):
    bad = fresh_iban(length_extra=1)  # right check digits, one digit too long for NL: SAP takes it
    supplier = await fresh_supplier(sap_server, bad)
    async with sync_worker(client, sap_server, store) as (worker, vendors):
        result, wf_id = await sync(client, worker)
        described = await client.get_workflow_handle(wf_id).describe()
        history = await client.get_workflow_handle(wf_id).fetch_history()

    [issue] = about(result, supplier)
    assert issue.kind == VendorIssueKind.INVALID_IBAN and issue.bank_account_id == "0001"
    assert mask(bad) in issue.detail and bad not in issue.detail
    assert vendors.vendor(supplier).bank_accounts[0].iban_valid is False
    assert described.typed_search_attributes.get(sa.EXCEPTION_OWNER) == "master-data"
    assert described.typed_search_attributes.get(sa.EXCEPTION_TYPE) == "VendorMasterData"
    assert not any(bad.encode() in event.SerializeToString() for event in history.events)


async def test_same_iban_on_two_suppliers_is_a_duplicate(client, sap_server, store):
    iban = fresh_iban()
    a, b = await fresh_supplier(sap_server, iban), await fresh_supplier(sap_server, iban)
    async with sync_worker(client, sap_server, store) as (worker, _):
        result, _ = await sync(client, worker)
    [issue] = about(result, a, b)
    assert issue.kind == VendorIssueKind.DUPLICATE_IBAN and issue.supplier_ids == sorted([a, b])
    assert mask(iban) in issue.detail and iban not in issue.detail


async def test_changed_bank_account_is_reported_and_signalled_to_running_lifecycles(client, sap_server, store):
    old, new, second = fresh_iban(), fresh_iban(), fresh_iban()
    supplier = await fresh_supplier(sap_server, old)
    async with sync_worker(client, sap_server, store) as (worker, _):
        baseline, _ = await sync(client, worker)
        invoice = make_invoice(supplier_id=supplier)
        handle = await client.start_workflow(InvoiceToPayment.run, invoice, id=invoice.workflow_id,
                                             task_queue=worker.task_queue)
        try:
            async def visible():
                query = f"WorkflowType='InvoiceToPayment' AND SupplierId='{supplier}' AND ExecutionStatus='Running'"
                assert [w.id async for w in client.list_workflows(query)] == [invoice.workflow_id]

            await assert_eventually(visible)
            await sap_admin._write(sap_server, "PATCH",
                                   f"{sap_admin.BP}/A_BusinessPartnerBank(BusinessPartner='{supplier}',"
                                   "BankIdentification='0001')", {"IBAN": new})
            await sap_admin.add_bank_account(sap_server, supplier, "0002", second, "MOCKNL2A")
            result, _ = await sync(client, worker)
            history = await handle.fetch_history()
        finally:
            await handle.terminate("test over")

    assert [c for c in baseline.bank_changes if c.supplier_id == supplier] == []
    changes = [c for c in result.bank_changes if c.supplier_id == supplier]
    assert [(c.bank_account_id, c.old_masked, c.new_masked) for c in changes] == [("0001", mask(old), mask(new)),
                                                                                 ("0002", None, mask(second))]
    assert all(c.detected_at.tzinfo is not None for c in changes)
    assert result.lifecycles_signalled == [invoice.workflow_id] and result.signal_failures == []
    assert result.signals_sent == 2
    signalled = [e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
                 and e.workflow_execution_signaled_event_attributes.signal_name == "bank_details_changed"]
    assert len(signalled) == 2
    assert not any(i.encode() in e.SerializeToString() for e in signalled for i in (old, new, second))


async def test_sync_runs_on_a_schedule(client, sap_server, store):
    async with sync_worker(client, sap_server, store) as (worker, vendors):
        _, result = await run_scheduled_once(client, VendorMasterSync.run, VendorSyncRequest(), "vendor-master-sync",
                                             worker.task_queue, "15 * * * *", VendorSyncResult)
    assert result.suppliers_read >= 10 and vendors.delta_token()


def test_store_reports_removed_accounts_once_per_sync_and_new_suppliers_as_baseline(store):
    vendors = VendorStore(store.engine)
    now = datetime.now(UTC)
    acct = VendorBankAccount(bank_account_id="0001", country="NL", masked="****0002", fingerprint="f1", has_iban=True)
    record = VendorRecord(supplier_id="S1", name="One")
    assert vendors.apply("run-1", [record], [], {"S1": [acct]}, None, "'T1'", now) == (1, [])  # first seen: baseline
    gone = BankDetailsChange(supplier_id="S1", bank_account_id="0001", old_masked="****0002", new_masked=None,
                             detected_at=now)
    for _ in range(2):  # the retry of the same sync answers from the log, not from a second comparison
        changed, changes = vendors.apply("run-2", [], [], {}, None, "'T2'", now)
        assert changed == 0
        assert [c.model_dump(exclude={"detected_at"}) for c in changes] == [gone.model_dump(exclude={"detected_at"})]
    assert vendors.vendor("S1").bank_accounts == [] and vendors.delta_token() == "'T2'"


def test_duplicate_vat_ids_are_found():
    # mock-sap serves no VAT ids (no A_BusinessPartnerTaxNumber): the rule is tested on records.
    records = [VendorRecord(supplier_id=s, name=s, vat_id=v)
               for s, v in (("A", "NL123B01"), ("B", "nl 123 b01"), ("C", "DE1"))]
    [issue] = find_duplicates(records)
    assert issue.kind == VendorIssueKind.DUPLICATE_VAT_ID and issue.supplier_ids == ["A", "B"]
