"""Reconciliation activities: each reads one side and returns compact facts (keys and
statuses, never documents), so the comparison and the healing stay in the workflow. All
read-only except write_report, which writes the report file (same bytes on a retry)."""

import asyncio
import os
from datetime import date, datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from activities import drift_checks as checks
from activities.errors import business_error, transient_error
from adapters.erp_directory import ErpDirectory
from adapters.erp_errors import ErpBusinessError, ErpTransientError
from adapters.payment_registers import PaymentRegisters
from adapters.treasury_store import TreasuryStore
from canonical.reconciliation import (
    BankFinding,
    ErpItem,
    LifecycleFact,
    OutflowFact,
    ReconciliationReport,
    ReconciliationRequest,
    ReconciliationScope,
)
from workflows import search_attributes as sa

LIFECYCLE_TYPE, INBOX_TYPE = "InvoiceToPayment", "BankInbox"  # the workflows' public names
DEFAULT_REPORT_DIR = Path(".finsync") / "reports"
_IDS_PER_QUERY = 100  # WorkflowId IN (...) per visibility call
_QUERY_TIMEOUT = timedelta(seconds=5)


class ErpItemsQuery(BaseModel):
    company_code: str
    cleared_since: date


class BankFindingsQuery(BaseModel):
    paying_account_id: str
    since: date


class ReportToWrite(BaseModel):
    """The report and its file's name; the directory is the worker's (settings.report_dir).
    A report_dir in an older run's input is ignored (pydantic drops unknown fields)."""

    report: ReconciliationReport
    file_name: str


class ReconciliationActivities:
    def __init__(self, client: Client, erps: ErpDirectory, store: TreasuryStore, registers: PaymentRegisters,
                 report_dir: Path = DEFAULT_REPORT_DIR) -> None:
        # No bank client: the bank's side is what it reported, as recorded by the inbox.
        self._client, self._erps, self._store, self._registers = client, erps, store, registers
        self._report_dir = report_dir

    @activity.defn
    async def reconciliation_scope(self, request: ReconciliationRequest) -> list[ReconciliationScope]:
        """The company codes and paying accounts a request without them covers: every legal
        entity (or the one named) with its paying accounts (or the one named)."""
        try:
            entities = [self._erps.entity(request.company_code)] if request.company_code else self._erps.entities()
        except ErpBusinessError as e:
            raise business_error("UnknownCompanyCode", e.message) from e
        return [ReconciliationScope(company_code=e.company_code, paying_account_ids=(
            [request.paying_account_id] if request.paying_account_id else list(e.paying_account_ids)))
            for e in entities]

    @activity.defn
    async def erp_supplier_items(self, query: ErpItemsQuery) -> list[ErpItem]:
        try:  # the ERP that books the company code
            return await self._erps.for_company(query.company_code).supplier_items(query.company_code,
                                                                                   query.cleared_since)
        except ErpTransientError as e:
            raise transient_error(f"ERP unavailable for reconciliation: {e}", e.retry_after) from e
        except ErpBusinessError as e:  # a refused filter will be refused again
            raise business_error("ErpRefusedReconciliationQuery", e.message) from e

    @activity.defn
    async def expected_outflows(self, company_code: str) -> list[OutflowFact]:
        return await asyncio.to_thread(checks.expected_outflows, self._store, company_code)

    @activity.defn
    async def lifecycle_facts(self, workflow_ids: list[str]) -> dict[str, LifecycleFact]:
        """The newest run of each named lifecycle, from visibility: its search attributes hold
        the business state, so no lifecycle is queried (or woken) for this."""
        facts: dict[str, LifecycleFact] = {}
        newest: dict[str, datetime] = {}
        listable = [i for i in workflow_ids if "'" not in i]
        for start in range(0, len(listable), _IDS_PER_QUERY):
            ids = ", ".join(f"'{i}'" for i in listable[start:start + _IDS_PER_QUERY])
            async for ex in self._client.list_workflows(f"WorkflowType='{LIFECYCLE_TYPE}' AND WorkflowId IN ({ids})"):
                if ex.id not in newest or ex.start_time > newest[ex.id]:
                    newest[ex.id], facts[ex.id] = ex.start_time, _fact(ex)
            activity.heartbeat(start)
        for wf_id in set(workflow_ids) - set(listable):  # a quote in a reference: not safe in a query string
            try:
                facts[wf_id] = _fact(await self._client.get_workflow_handle(wf_id).describe())
            except RPCError:
                pass  # no such lifecycle
        return facts

    @activity.defn
    async def bank_findings(self, query: BankFindingsQuery) -> list[BankFinding]:
        engine = self._registers.engine
        register = await asyncio.to_thread(checks.payment_register, engine)
        bookings = await asyncio.to_thread(checks.booked_payments, engine, query.paying_account_id, query.since)
        acknowledged = await self._acknowledged_problems()
        return [
            *checks.paid_twice(bookings, register),
            *await asyncio.to_thread(checks.unmatched_statement_entries, engine, register, query.paying_account_id,
                                     query.since),
            *await asyncio.to_thread(checks.message_problems, engine, query.since, acknowledged),
        ]

    async def _acknowledged_problems(self) -> set[str]:
        """Problems treasury acknowledged on the bank inbox are not reported again."""
        done: set[str] = set()
        async for ex in self._client.list_workflows(f"WorkflowType='{INBOX_TYPE}' AND ExecutionStatus='Running'"):
            try:
                status = await self._client.get_workflow_handle(ex.id).query("status", rpc_timeout=_QUERY_TIMEOUT)
            except Exception as err:  # noqa: BLE001 - an inbox that can not answer hides nothing
                activity.logger.warning("bank inbox %s did not answer its status query: %s", ex.id, err)
                continue
            done |= {p["bank_message_id"] for p in status.get("problems", []) if p.get("acknowledged_by")}
        return done

    @activity.defn
    async def write_report(self, request: ReportToWrite) -> str:
        """Write to a temporary name, then rename: a reader never sees half a report, and a
        retry writes the same file again."""
        path = (self._report_dir / Path(request.file_name).name).resolve()
        # The file names itself, so a report passed around on its own says where it lives.
        text = request.report.model_copy(update={"report_path": str(path)}).model_dump_json(indent=2)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)

        await asyncio.to_thread(write)
        return str(path)


def _fact(ex) -> LifecycleFact:
    status = ex.status or WorkflowExecutionStatus.RUNNING
    return LifecycleFact(workflow_id=ex.id, running=status == WorkflowExecutionStatus.RUNNING,
                         execution_status=status.name, invoice_status=ex.typed_search_attributes.get(sa.INVOICE_STATUS))
