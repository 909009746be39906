"""One supplier's running lifecycles that have not posted yet, from visibility, for the
near-duplicate check (activities/duplicate_search.py).

Visibility is not made for a query per invoice: a burst of one supplier's invoices would send
as many list calls as invoices, each returning all the others (measured on the dev server: 200
lifecycles of one supplier, 200 concurrent lists, the SQLite visibility store locked up for
minutes). So the calls of one worker are shared (activities/shared_reads.py): per supplier and
company code at most one list is in flight, and a caller always gets the answer of a list that
*started after it asked*, shared with everyone who asked meanwhile; a few suppliers at a time.
A 200-invoice burst then costs a handful of lists."""

from dataclasses import dataclass

from temporalio.api.common.v1 import Memo, SearchAttributes
from temporalio.api.workflowservice.v1 import ListWorkflowExecutionsRequest
from temporalio.client import Client
from temporalio.converter import PayloadConverter

from activities.shared_reads import SharedReads
from canonical.duplicates import InvoiceFacts
from canonical.status import InvoiceStatus
from workflows import search_attributes as sa

LIFECYCLE_TYPE = "InvoiceToPayment"  # the workflow's public name
FACTS_MEMO = "invoice_facts"  # what a lifecycle shows the others (workflows/near_duplicates.py)
# Where a running lifecycle's invoice may not be in the ERP yet (ON_HOLD: held before or after).
UNPOSTED = (InvoiceStatus.RECEIVED, InvoiceStatus.AWAITING_APPROVAL, InvoiceStatus.VALIDATED, InvoiceStatus.ON_HOLD)
PAGE_SIZE = 1000
MAX_LIFECYCLES = 10_000  # unposted lifecycles of one supplier read; past that, the ERP check still holds
PARALLEL_SUPPLIERS = 4  # list calls in flight per worker


@dataclass(frozen=True)
class UnpostedLifecycle:
    workflow_id: str
    status: str | None
    invoice_key: str | None
    facts: InvoiceFacts | None  # None: started before lifecycles kept their facts in the memo


class SupplierLifecycles:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._reads: SharedReads[tuple[str, str], list[UnpostedLifecycle]] = SharedReads(
            lambda key: self._list(*key), PARALLEL_SUPPLIERS)

    async def unposted(self, supplier_id: str, company_code: str) -> list[UnpostedLifecycle]:
        return await self._reads.get((supplier_id, company_code))

    async def _list(self, supplier_id: str, company_code: str) -> list[UnpostedLifecycle]:
        # Both values are [0-9A-Z] (Invoice's patterns): safe inside a query string. Only the
        # states before posting: past them the invoice is in the ERP, which is read as well.
        states = ", ".join(f"'{s}'" for s in UNPOSTED)
        query = (f"WorkflowType='{LIFECYCLE_TYPE}' AND ExecutionStatus='Running' AND "
                 f"{sa.SUPPLIER_ID.name}='{supplier_id}' AND {sa.COMPANY_CODE.name}='{company_code}' "
                 f"AND {sa.INVOICE_STATUS.name} IN ({states})")
        # The raw pages, not Client.list_workflows: that decodes every search attribute of every
        # entry twice (typed and untyped), 73% of this read's CPU in a burst of one supplier's
        # invoices (py-spy, bench/README "The near-duplicate listing"); two keywords and one memo
        # field are all the check needs.
        found: list[UnpostedLifecycle] = []
        token = b""
        while len(found) < MAX_LIFECYCLES:
            page = await self._client.workflow_service.list_workflow_executions(
                ListWorkflowExecutionsRequest(namespace=self._client.namespace, query=query, next_page_token=token,
                                              page_size=min(PAGE_SIZE, MAX_LIFECYCLES - len(found))),
                retry=True)
            for info in page.executions:
                found.append(UnpostedLifecycle(
                    workflow_id=info.execution.workflow_id,
                    status=_keyword(info.search_attributes, sa.INVOICE_STATUS.name),
                    invoice_key=_keyword(info.search_attributes, sa.INVOICE_ID.name),
                    facts=await self._facts(info.memo)))
            token = page.next_page_token
            if not token:
                break
        return found[:MAX_LIFECYCLES]

    async def _facts(self, memo: Memo) -> InvoiceFacts | None:
        payload = memo.fields.get(FACTS_MEMO)
        if payload is None:
            return None
        try:
            [facts] = await self._client.data_converter.decode([payload], [InvoiceFacts])
            return facts
        except (ValueError, TypeError):  # unreadable (pydantic's ValidationError is a ValueError): judged by its key
            return None


def _keyword(attributes: SearchAttributes, name: str) -> str | None:
    payload = attributes.indexed_fields.get(name)
    if payload is None:
        return None
    value = PayloadConverter.default.from_payload(payload)
    return value if isinstance(value, str) else None
