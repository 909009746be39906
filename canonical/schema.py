"""Export the canonical models' JSON Schemas to canonical/schemas/ (committed), so partners
and reviewers see the contract, and a test fails when the models drift from it.

    python -m canonical.schema          # rewrite the files
    python -m canonical.schema --check  # exit 1 if they are stale
"""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from canonical.bank import BankStatement, PaymentFile, PaymentReturn, PaymentStatusReport
from canonical.commands import (
    ApprovalDecision,
    BankRejection,
    CancelInvoice,
    ConfirmBankDetails,
    ConfirmNotDuplicate,
    LifecyclePolicy,
    PaymentRunInclusion,
    PaymentSent,
    ReportBankRejection,
    ResolveException,
)
from canonical.einvoice import EInvoiceReceipt
from canonical.erp import PostedInvoice, PurchaseOrder
from canonical.exceptions import ExceptionCase
from canonical.invoice import Invoice
from canonical.payment import BankStatusReport, PaymentInstruction, PaymentRecord
from canonical.payment_run import PaymentRelease, PaymentRunRequest, PaymentRunSummary
from canonical.status import InvoiceLifecycleStatus
from canonical.supplier import CompanyCode, Supplier, SupplierBankAccount
from canonical.treasury import CashPosition, ExpectedOutflow
from canonical.vendors import BankDetailsChange

MODELS: list[type[BaseModel]] = [
    Invoice, Supplier, SupplierBankAccount, CompanyCode, PostedInvoice, PurchaseOrder,
    PaymentInstruction, BankStatusReport, ExpectedOutflow, CashPosition, ExceptionCase,
    InvoiceLifecycleStatus, ResolveException, CancelInvoice, PaymentRunInclusion, LifecyclePolicy,
    PaymentSent, BankRejection, PaymentRecord, PaymentRunRequest, PaymentRunSummary, PaymentFile,
    PaymentStatusReport, BankStatement, PaymentReturn, EInvoiceReceipt, ConfirmBankDetails, BankDetailsChange,
    ApprovalDecision, PaymentRelease, ReportBankRejection, ConfirmNotDuplicate,
]

SCHEMA_DIR = Path(__file__).parent / "schemas"


def rendered() -> dict[str, str]:
    # Validation mode: the schema of what finsync accepts (money as decimal strings).
    return {
        f"{model.__name__}.json": json.dumps(model.model_json_schema(mode="validation"), indent=2,
                                             sort_keys=True) + "\n"
        for model in MODELS
    }


def stale() -> list[str]:
    expected = rendered()
    present = {p.name for p in SCHEMA_DIR.glob("*.json")}
    changed = [name for name, text in expected.items()
               if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text]
    return sorted(changed + list(present - expected.keys()))


def write() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for old in SCHEMA_DIR.glob("*.json"):
        old.unlink()
    for name, text in rendered().items():
        (SCHEMA_DIR / name).write_text(text)


if __name__ == "__main__":
    if "--check" in sys.argv:
        names = stale()
        print("schemas stale: " + ", ".join(names) if names else "schemas up to date")
        sys.exit(1 if names else 0)
    write()
    print(f"wrote {len(MODELS)} schemas to {SCHEMA_DIR}")
