"""Search attributes finsync writes, so the Web UI and `temporal workflow list --query` can
find invoices by business key, state and exception owner. deploy/ registers the same list."""

from temporalio.common import SearchAttributeKey

INVOICE_ID = SearchAttributeKey.for_keyword("InvoiceId")
SUPPLIER_ID = SearchAttributeKey.for_keyword("SupplierId")
COMPANY_CODE = SearchAttributeKey.for_keyword("CompanyCode")
INVOICE_STATUS = SearchAttributeKey.for_keyword("InvoiceStatus")
EXCEPTION_OWNER = SearchAttributeKey.for_keyword("ExceptionOwner")
EXCEPTION_TYPE = SearchAttributeKey.for_keyword("ExceptionType")

ALL = [INVOICE_ID, SUPPLIER_ID, COMPANY_CODE, INVOICE_STATUS, EXCEPTION_OWNER, EXCEPTION_TYPE]


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` for `temporal server start-dev` and operator commands."""
    return [f"{key.name}=Keyword" for key in ALL]
