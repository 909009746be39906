"""What a starter of finsync's own (the CLI, the e-invoice intake, the benchmarks) gives a new
lifecycle, so that it is findable from the moment it starts and its first task has nothing of
this to write: its keys and RECEIVED as search attributes, its invoice facts as memo.

Each is an action saved per invoice (an upsert, a memo change). Nothing here is trusted: the
lifecycle compares what it was given with what it would write and writes its own where they
differ (workflows/lifecycle_state.py, START_ATTRIBUTES_PATCH; workflows/near_duplicates.py).
A plain `temporal workflow start` gives none of it and costs those two actions more."""

from typing import Any

from temporalio.common import SearchAttributePair, TypedSearchAttributes

from activities.lifecycle_listing import FACTS_MEMO
from canonical.duplicates import InvoiceFacts
from canonical.invoice import Invoice
from canonical.status import InvoiceStatus
from workflows import search_attributes as sa


def start_attributes(invoice: Invoice) -> TypedSearchAttributes:
    return TypedSearchAttributes([
        SearchAttributePair(sa.INVOICE_ID, invoice.key),
        SearchAttributePair(sa.SUPPLIER_ID, invoice.supplier_id),
        SearchAttributePair(sa.COMPANY_CODE, invoice.company_code),
        SearchAttributePair(sa.INVOICE_STATUS, InvoiceStatus.RECEIVED.value),
    ])


def start_memo(invoice: Invoice, **more: Any) -> dict[str, Any]:
    """The facts other lifecycles' near-duplicate checks read, and `more` (a lifecycle policy)."""
    return {FACTS_MEMO: InvoiceFacts.of(invoice), **more}


def start_options(invoice: Invoice, **more_memo: Any) -> dict[str, Any]:
    """Keyword arguments for `Client.start_workflow` of the invoice's lifecycle."""
    return {"search_attributes": start_attributes(invoice), "memo": start_memo(invoice, **more_memo)}
