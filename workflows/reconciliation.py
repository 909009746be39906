"""Reconciliation: compares the ERP's supplier items and clearing, every lifecycle's state, the
treasury store and the bank, and reports each drift by kind. Run by a Temporal Schedule.

Safe drifts are healed here, by a signal the lifecycle already understands (it then reads the
ERP itself; nothing is written anywhere on the reconciliation's word). Everything else stays
in the report for its owner, and the run carries ExceptionOwner/ExceptionType so it is found
like any other case: `temporal workflow list --query 'ExceptionOwner="treasury-ops"'`."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import BankFindingsQuery, ErpItemsQuery, ReportToWrite
    from activities.reconciliation import ReconciliationActivities as A
    from canonical.exceptions import ExceptionOwner
    from canonical.keys import invoice_workflow_id
    from canonical.reconciliation import (
        BankFinding,
        Drift,
        DriftKind,
        ErpItem,
        OutflowFact,
        ReconciliationReport,
        ReconciliationRequest,
        ReconciliationScope,
        find_drifts,
    )
    from telemetry import finance

import workflows.activity_options as opts
from workflows import search_attributes as sa
from workflows.counterpart_calls import call
from workflows.outage_board import OutageBoard, show_case

CASE_TYPE = "ReconciliationDrift"


@workflow.defn(name="Reconciliation")
class Reconciliation:
    def __init__(self) -> None:
        self._report: ReconciliationReport | None = None
        self._outages = OutageBoard(workflow.info().workflow_id, lambda: "Reconciliation",
                                    on_change=lambda: show_case(self._outages.first()))

    async def _call(self, activity, *args, summary: str, via):
        return await call(activity, *args, summary=summary, via=via, outages=self._outages)

    @workflow.run
    async def run(self, req: ReconciliationRequest) -> ReconciliationReport:
        info = workflow.info()
        today = workflow.now().date()
        since = today - timedelta(days=req.cleared_lookback_days)
        if req.company_code and req.paying_account_id:  # one company and account: no scope to read
            scopes = [ReconciliationScope(company_code=req.company_code, paying_account_ids=[req.paying_account_id])]
        else:  # every legal entity, or every account of one (the configuration, read by an activity)
            scopes = await self._call(A.reconciliation_scope, req, summary="the legal entities and paying accounts",
                                      via=opts.TREASURY)
        accounts = [a for scope in scopes for a in scope.paying_account_ids]
        self._report = report = ReconciliationReport(company_code=",".join(s.company_code for s in scopes),
                                                     paying_account_id=",".join(accounts),
                                                     run_at=workflow.now(), workflow_id=info.workflow_id,
                                                     run_id=info.run_id)
        workflow.set_current_details("gathering facts from the ERP, the lifecycles, treasury and the bank")
        erp: list[ErpItem] = []
        outflows: list[OutflowFact] = []
        for scope in scopes:  # each company code from the ERP that books it
            erp += await self._call(
                A.erp_supplier_items, ErpItemsQuery(company_code=scope.company_code, cleared_since=since),
                summary=f"ERP supplier items of {scope.company_code}: open, or cleared since {since}", via=opts.ERP)
            outflows += await self._call(A.expected_outflows, scope.company_code,
                                         summary="treasury's expected outflows", via=opts.TREASURY)
        # Only the lifecycles the other sides name: the payload grows with open items, not with history.
        ids = sorted({invoice_workflow_id(i.company_code, i.supplier_id, i.reference) for i in erp if i.reference}
                     | {f"invoice-{o.invoice_key}" for o in outflows})
        lifecycles = await self._call(A.lifecycle_facts, ids, summary=f"state of {len(ids)} lifecycles (visibility)",
                                      via=opts.LIFECYCLE_CALLS)
        bank: list[BankFinding] = []
        for account in accounts:  # a message's problem comes with every account: once (same kind, key, detail)
            seen = {(f.kind, f.key, f.detail) for f in bank}
            bank += [f for f in await self._call(
                A.bank_findings, BankFindingsQuery(paying_account_id=account, since=since),
                summary=f"bank payments and statements of {account}", via=opts.BANK)
                if (f.kind, f.key, f.detail) not in seen]
        report.checked = {"erp_items": len(erp), "lifecycles": len(lifecycles), "expected_outflows": len(outflows)}
        report.drifts = find_drifts(erp, lifecycles, outflows, bank)

        for drift in report.drifts:
            if drift.safe:
                await self._heal(drift)
        self._publish(report)
        # Where the report goes is the worker's setting (FINSYNC_REPORT_DIR), never the input's:
        # an input naming a directory must not make the worker write there (architecture
        # invariant 8). An old input's report_dir is read and ignored.
        report.report_path = await self._call(
            A.write_report, ReportToWrite(report=report,
                                          file_name=f"reconciliation-{today.isoformat()}-{info.run_id}.json"),
            summary="keep the report (JSON)", via=opts.TREASURY)
        return report

    async def _heal(self, drift: Drift) -> None:
        if drift.kind != DriftKind.ERP_CLEARED_LIFECYCLE_WAITING:
            return
        assert drift.workflow_id is not None  # find_drifts names the lifecycle of every such drift
        try:
            # The lifecycle's own "look at the ERP now" hint: it clears itself from what it reads.
            await workflow.get_external_workflow_handle(drift.workflow_id).signal("statement_posted")
        except Exception as err:  # noqa: BLE001 - it ended meanwhile: then a person looks
            drift.detail += f"; signalling the lifecycle failed: {err}"
            return
        drift.healed = True
        drift.detail += "; signalled statement_posted: the lifecycle reads the ERP now"

    def _publish(self, report: ReconciliationReport) -> None:
        """Search attributes for the open case, live details, metrics."""
        open_drifts = report.open_drifts
        if open_drifts:
            workflow.upsert_search_attributes([sa.EXCEPTION_OWNER.value_set(ExceptionOwner.TREASURY_OPS.value),
                                               sa.EXCEPTION_TYPE.value_set(CASE_TYPE)])
        counts = report.counts()
        for kind, (found, healed) in counts.items():
            finance.record_drifts(found, healed, kind)
        lines = [(f"**{len(report.drifts)} drifts**, {len(report.drifts) - len(open_drifts)} healed, "
                  f"{len(open_drifts)} for people ({report.company_code}, {report.paying_account_id})")]
        lines += [f"{kind}: {found} found, {healed} healed" for kind, (found, healed) in sorted(counts.items())]
        workflow.set_current_details("\n\n".join(lines))

    @workflow.query
    def report(self) -> ReconciliationReport | None:
        return self._report
