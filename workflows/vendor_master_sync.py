"""VendorMasterSync: keeps finsync's vendor store in step with SAP's suppliers, run by a
Temporal Schedule (overlap Skip: two syncs at once would race for the delta token).

Reads the supplier delta and every bank account, validates IBAN/BIC, finds duplicate
suppliers (same IBAN or VAT id) and the bank accounts that changed. Issues make the run a
master-data case, found like any other: `temporal workflow list --query
'ExceptionOwner="master-data" AND ExceptionType="VendorMasterData"'`. Each bank change is
signalled (`bank_details_changed`, masked values only) to every running lifecycle of that
supplier, so it can hold the invoice before paying an account nobody has confirmed."""

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.vendor_sync import VendorSyncActivities as A
    from activities.vendor_sync import VendorSyncInput
    from canonical.exceptions import ExceptionOwner
    from canonical.vendors import BankDetailsChange, VendorSyncRequest, VendorSyncResult
    import workflows.activity_options as opts
    from workflows import search_attributes as sa
    from workflows.counterpart_calls import call
    from workflows.outage_board import OutageBoard, show_case

CASE_TYPE = "VendorMasterData"
SIGNAL = "bank_details_changed"


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
        changed = sorted({c.supplier_id for c in result.bank_changes})
        if changed:
            lifecycles = await call(
                A.running_lifecycles_of, changed, summary=f"running lifecycles of {len(changed)} suppliers with new bank details",
                via=opts.LIFECYCLE_CALLS, outages=self._outages)
            sends = [(wf_id, change) for change in result.bank_changes for wf_id in lifecycles.get(change.supplier_id, [])]
            # Concurrently: one at a time is ~10 signals/s (bench/payment_cycle.py).
            outcomes = await asyncio.gather(*(self._signal(wf_id, change) for wf_id, change in sends))
            result.lifecycles_signalled = sorted({wf_id for (wf_id, _), error in zip(sends, outcomes) if error is None})
            result.signal_failures = [f"{wf_id}: {error}" for (wf_id, _), error in zip(sends, outcomes) if error]
        self._publish(result)
        return result

    @staticmethod
    async def _signal(workflow_id: str, change: BankDetailsChange) -> str | None:
        try:
            # A lifecycle without a handler yet keeps the signal buffered: not an error.
            await workflow.get_external_workflow_handle(workflow_id).signal(SIGNAL, change)
        except Exception as err:  # noqa: BLE001 - it ended meanwhile: nothing left to hold
            return str(err)
        return None

    @staticmethod
    def _publish(result: VendorSyncResult) -> None:
        if result.issues:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set(ExceptionOwner.MASTER_DATA.value),
                                               sa.EXCEPTION_TYPE.value_set(CASE_TYPE)])
        read = f"delta since {result.delta_token_used}" if result.delta_token_used else "full read"
        lines = [f"**{result.suppliers_read} suppliers read** ({read}), {result.suppliers_changed} changed, "
                 f"{result.bank_accounts_read} bank accounts, {len(result.issues)} issues, "
                 f"{len(result.bank_changes)} bank changes, {len(result.lifecycles_signalled)} lifecycles told"]
        lines += [f"{i.kind}: {i.detail}" for i in result.issues[:20]]
        lines += [f"bank change {c.supplier_id}/{c.bank_account_id}: {c.old_masked} → {c.new_masked}"
                  for c in result.bank_changes[:20]]
        workflow.set_current_details("\n\n".join(lines))

    @workflow.query
    def result(self) -> VendorSyncResult | None:
        return self._result
