"""VendorMasterSync: keeps finsync's vendor store in step with SAP's suppliers, run by a
Temporal Schedule (overlap Skip: two syncs at once would race for the delta token).

Reads the supplier delta and every bank account, validates IBAN/BIC, finds duplicate
suppliers (same IBAN or VAT id) and the bank accounts that changed. Issues make the run a
master-data case, found like any other: `temporal workflow list --query
'ExceptionOwner="master-data" AND ExceptionType="VendorMasterData"'`. Each bank change is
signalled (`bank_details_changed`, masked values only) to every running lifecycle of that
supplier, so it can hold the invoice before paying an account nobody has confirmed. The
signals are queued in the treasury store and sent by an activity, a bounded number at a time:
a supplier with thousands of open invoices cannot push this workflow over Temporal's
2,000-pending-signal limit, and its history holds a count, not one event per lifecycle."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.lifecycle_delivery import LifecycleDeliveries as D
    from activities.vendor_sync import VendorSyncActivities as A
    from activities.vendor_sync import VendorSyncInput
    from canonical.exceptions import ExceptionOwner
    from canonical.inbox import DeliveryRequest
    from canonical.vendors import BankChangeNotice, VendorSyncRequest, VendorSyncResult

import workflows.activity_options as opts
from workflows import search_attributes as sa
from workflows.counterpart_calls import call
from workflows.outage_board import OutageBoard, show_case

CASE_TYPE = "VendorMasterData"


@workflow.defn(name="VendorMasterSync")
class VendorMasterSync:
    def __init__(self) -> None:
        self._result: VendorSyncResult | None = None
        self._outages = OutageBoard(workflow.info().workflow_id, lambda: "VendorMasterSync",
                                    on_change=lambda: show_case(self._outages.first()))

    @workflow.run
    async def run(self, req: VendorSyncRequest) -> VendorSyncResult:
        info = workflow.info()
        workflow.set_current_details("reading suppliers and bank details from the ERP")
        self._result = result = await call(
            A.sync_vendor_master, VendorSyncInput(sync_key=f"{info.workflow_id}/{info.run_id}", full=req.full),
            summary="ERP suppliers (full read)" if req.full else "ERP suppliers (delta) and all bank details",
            via=opts.ERP, outages=self._outages)
        if result.bank_changes:
            notice = BankChangeNotice(batch_key=f"vendor-sync:{info.workflow_id}/{info.run_id}",
                                      changes=result.bank_changes)
            queued = await call(A.queue_bank_change_signals, notice,
                                summary=f"queue {len(result.bank_changes)} bank changes "
                                        "for the suppliers' running lifecycles",
                                via=opts.LIFECYCLE_CALLS, outages=self._outages)
            if queued:
                told = await call(D.deliver_to_lifecycles, DeliveryRequest(batch_keys=[notice.batch_key]),
                                  summary=f"tell lifecycles of new bank details ({queued} signals)",
                                  via=opts.LIFECYCLE_CALLS, outages=self._outages)
                result.lifecycles_signalled, result.signals_sent = told.lifecycles, told.delivered
                result.signal_failures = list(told.problems.values())
        self._publish(result)
        return result

    @staticmethod
    def _publish(result: VendorSyncResult) -> None:
        if result.issues:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set(ExceptionOwner.MASTER_DATA.value),
                                               sa.EXCEPTION_TYPE.value_set(CASE_TYPE)])
        read = f"delta since {result.delta_token_used}" if result.delta_token_used else "full read"
        lines = [(f"**{result.suppliers_read} suppliers read** ({read}), {result.suppliers_changed} changed, "
                  f"{result.bank_accounts_read} bank accounts, {len(result.issues)} issues, "
                  f"{len(result.bank_changes)} bank changes, {result.signals_sent} signals to lifecycles")]
        lines += [f"{i.kind}: {i.detail}" for i in result.issues[:20]]
        lines += [f"bank change {c.supplier_id}/{c.bank_account_id}: {c.old_masked} → {c.new_masked}"
                  for c in result.bank_changes[:20]]
        workflow.set_current_details("\n\n".join(lines))

    @workflow.query
    def result(self) -> VendorSyncResult | None:
        return self._result
