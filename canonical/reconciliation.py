"""Reconciliation across ERP, lifecycles, treasury and bank: the facts each side reports (keys
and statuses only, so they fit in workflow history), the drifts found between them, and the
report. `find_drifts` is pure: the Reconciliation workflow runs it deterministically."""

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from canonical.exceptions import ExceptionOwner
from canonical.keys import invoice_key, invoice_workflow_id
from canonical.money import Money


class DriftKind(StrEnum):
    POSTED_WITHOUT_LIFECYCLE = "POSTED_WITHOUT_LIFECYCLE"
    CLEARED_BUT_ERP_OPEN = "CLEARED_BUT_ERP_OPEN"
    ERP_CLEARED_LIFECYCLE_WAITING = "ERP_CLEARED_LIFECYCLE_WAITING"
    PAID_TWICE = "PAID_TWICE"
    STATEMENT_ENTRY_UNMATCHED = "STATEMENT_ENTRY_UNMATCHED"
    OUTFLOW_WITHOUT_INVOICE = "OUTFLOW_WITHOUT_INVOICE"


# Who fixes each kind. AP starts or blocks invoices; treasury owns clearing, cash and the bank.
OWNERS: dict[DriftKind, ExceptionOwner] = {
    DriftKind.POSTED_WITHOUT_LIFECYCLE: ExceptionOwner.AP_REMEDIATION,
    DriftKind.CLEARED_BUT_ERP_OPEN: ExceptionOwner.TREASURY_OPS,
    DriftKind.ERP_CLEARED_LIFECYCLE_WAITING: ExceptionOwner.TREASURY_OPS,
    DriftKind.PAID_TWICE: ExceptionOwner.TREASURY_OPS,
    DriftKind.STATEMENT_ENTRY_UNMATCHED: ExceptionOwner.TREASURY_OPS,
    DriftKind.OUTFLOW_WITHOUT_INVOICE: ExceptionOwner.TREASURY_OPS,
}


class ReconciliationRequest(BaseModel):
    """One company code and one paying account, or (either unset) every legal entity's, resp.
    every paying account of the company codes reconciled (settings `legal_entities`)."""

    schema_version: Literal[1] = 1
    company_code: str | None = Field(default=None, description="unset: every legal entity")
    paying_account_id: str | None = Field(default=None, description="unset: every account of the company codes")
    report_dir: str | None = Field(default=None,
                                   description="ignored: the report goes to the worker's FINSYNC_REPORT_DIR; kept so "
                                               "older inputs and schedules still read")
    cleared_lookback_days: int = Field(default=31, ge=1, description="ERP items cleared this recently are compared too")


class ReconciliationScope(BaseModel):
    """A company code to reconcile and the paying accounts whose bank side goes with it."""

    company_code: str
    paying_account_ids: list[str] = []


class ErpItem(BaseModel):
    """A supplier open item (or one cleared within the lookback), joined to its invoice's reference."""

    accounting_document: str
    fiscal_year: str
    company_code: str
    supplier_id: str
    reference: str | None = None  # None: no A_SupplierInvoice row (e.g. a BAPI payable)
    amount: Money
    currency: str
    payment_block: str = ""
    clearing_document: str = ""
    clearing_date: date | None = None

    @property
    def invoice_key(self) -> str | None:
        return invoice_key(self.company_code, self.supplier_id, self.reference) if self.reference else None


class LifecycleFact(BaseModel):
    """The newest run of one InvoiceToPayment workflow, from visibility (no query)."""

    workflow_id: str
    running: bool
    execution_status: str  # RUNNING, COMPLETED, TERMINATED, FAILED, ...
    invoice_status: str | None = None  # the InvoiceStatus search attribute


class OutflowFact(BaseModel):
    invoice_key: str
    amount: Money
    currency: str
    value_date: date


class BankFinding(BaseModel):
    """Found on the bank side by the activity itself (it needs the whole register to decide)."""

    kind: Literal[DriftKind.PAID_TWICE, DriftKind.STATEMENT_ENTRY_UNMATCHED]
    key: str
    detail: str
    amount: Money | None = None
    currency: str | None = None


class Drift(BaseModel):
    kind: DriftKind
    key: str = Field(description="invoice key, EndToEndId or bank message id")
    detail: str
    owner: ExceptionOwner
    safe: bool = False  # healed by finsync without a person
    healed: bool = False
    workflow_id: str | None = None
    amount: Money | None = None
    currency: str | None = None


class ReconciliationReport(BaseModel):
    schema_version: Literal[1] = 1
    company_code: str
    paying_account_id: str
    run_at: datetime
    workflow_id: str
    run_id: str
    checked: dict[str, int] = Field(default_factory=dict, description="how many facts each side contributed")
    drifts: list[Drift] = []
    report_path: str | None = None

    @property
    def open_drifts(self) -> list[Drift]:
        """The ones that need a person: unsafe, or safe but the heal failed."""
        return [d for d in self.drifts if not d.healed]

    def counts(self) -> dict[str, tuple[int, int]]:
        """kind -> (found, healed)."""
        out: dict[str, tuple[int, int]] = {}
        for d in self.drifts:
            found, healed = out.get(d.kind.value, (0, 0))
            out[d.kind.value] = (found + 1, healed + int(d.healed))
        return out


_CLOSED_OK = {"COMPLETED", "CANCELLED"}  # a lifecycle that ended where it should
_PAID = {"CLEARED", "COMPLETED"}


def find_drifts(erp: list[ErpItem], lifecycles: dict[str, LifecycleFact], outflows: list[OutflowFact],
                bank: list[BankFinding]) -> list[Drift]:
    """Compare the sides. `lifecycles` is keyed by workflow id. Deterministic order."""
    drifts: list[Drift] = []

    def add(kind: DriftKind, key: str, detail: str, *, safe: bool = False, workflow_id: str | None = None,
            amount=None, currency=None) -> None:
        drifts.append(Drift(kind=kind, key=key, detail=detail, owner=OWNERS[kind], safe=safe, workflow_id=workflow_id,
                            amount=amount, currency=currency))

    for item in sorted(erp, key=lambda i: (i.fiscal_year, i.accounting_document)):
        doc, key = f"{item.accounting_document}/{item.fiscal_year}", item.invoice_key
        if key is None or item.reference is None:  # the same: no reference, no invoice key
            if not item.clearing_document:
                add(DriftKind.POSTED_WITHOUT_LIFECYCLE, doc,
                    f"open ERP item {doc} of supplier {item.supplier_id} has no "
                    "supplier invoice (posted outside finsync): nothing will pay it", amount=item.amount,
                    currency=item.currency)
            continue
        wf_id = invoice_workflow_id(item.company_code, item.supplier_id, item.reference)
        life = lifecycles.get(wf_id)
        money: dict[str, Any] = dict(amount=item.amount, currency=item.currency)
        if not item.clearing_document:
            if life is None:
                add(DriftKind.POSTED_WITHOUT_LIFECYCLE, key, f"ERP document {doc} is open and no lifecycle exists",
                    **money)
            elif not life.running and life.execution_status != "COMPLETED" and life.invoice_status not in _CLOSED_OK:
                add(DriftKind.POSTED_WITHOUT_LIFECYCLE, key, f"ERP document {doc} is open but its lifecycle ended "
                    f"{life.execution_status.lower()} at {life.invoice_status or 'an unknown state'}",
                    workflow_id=wf_id, **money)
            elif life.invoice_status in _PAID:
                add(DriftKind.CLEARED_BUT_ERP_OPEN, key,
                    f"lifecycle says {life.invoice_status}, ERP document {doc} is open"
                    + (" (clearing reversed?)" if life.invoice_status == "COMPLETED" else ""), workflow_id=wf_id,
                    **money)
        elif life is not None and life.running and life.invoice_status == "SETTLED":
            # The lifecycle reads the ERP itself on this hint; finsync writes nothing anywhere.
            add(DriftKind.ERP_CLEARED_LIFECYCLE_WAITING, key, f"ERP cleared {doc} by {item.clearing_document} on "
                f"{item.clearing_date}; lifecycle still waits at SETTLED", safe=True, workflow_id=wf_id, **money)

    for outflow in sorted(outflows, key=lambda o: o.invoice_key):
        wf_id = f"invoice-{outflow.invoice_key}"
        life = lifecycles.get(wf_id)
        if life is None or not life.running:
            state = ("no lifecycle exists" if life is None
                     else f"its lifecycle ended {life.execution_status.lower()} at {life.invoice_status}")
            add(DriftKind.OUTFLOW_WITHOUT_INVOICE, outflow.invoice_key,
                f"treasury expects {outflow.amount} {outflow.currency} "
                f"out on {outflow.value_date} but {state}", workflow_id=wf_id if life else None,
                amount=outflow.amount, currency=outflow.currency)

    for finding in bank:
        add(finding.kind, finding.key, finding.detail, amount=finding.amount, currency=finding.currency)
    return drifts
