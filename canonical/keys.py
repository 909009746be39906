"""Business keys. The invoice workflow id is derived from them, so a second start for the
same invoice lands on the same workflow (DESIGN invariant 1)."""

import re

_SPACES = re.compile(r"\s+")


def normalise_reference(reference: str) -> str:
    """Suppliers write the same reference as `inv 42`, `INV 42` and `INV42`; AP treats those
    as one invoice, so the key does too."""
    return _SPACES.sub("", reference).upper()


def invoice_key(company_code: str, supplier_id: str, supplier_invoice_ref: str) -> str:
    return f"{company_code.upper()}-{supplier_id}-{normalise_reference(supplier_invoice_ref)}"


def invoice_workflow_id(company_code: str, supplier_id: str, supplier_invoice_ref: str) -> str:
    return f"invoice-{invoice_key(company_code, supplier_id, supplier_invoice_ref)}"
