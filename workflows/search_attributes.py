"""Search attributes finsync writes, so the Web UI and `temporal workflow list --query` can
find invoices by business key, state and exception owner, and the reports can count open
cases by owner and SLA state without asking any lifecycle. deploy/ registers the same list,
each with its own type."""

from typing import Any

from temporalio.common import SearchAttributeKey

INVOICE_ID = SearchAttributeKey.for_keyword("InvoiceId")
SUPPLIER_ID = SearchAttributeKey.for_keyword("SupplierId")
COMPANY_CODE = SearchAttributeKey.for_keyword("CompanyCode")
INVOICE_STATUS = SearchAttributeKey.for_keyword("InvoiceStatus")
EXCEPTION_OWNER = SearchAttributeKey.for_keyword("ExceptionOwner")
EXCEPTION_TYPE = SearchAttributeKey.for_keyword("ExceptionType")
# The shown case's SLA (a lifecycle's `open_exception`), beside its owner and type: when it
# opened, when it runs out (or escalates next), whether it escalated, how severe it is. Unset
# while no case is open. Lifecycles whose case opened before these existed carry none.
CASE_OPENED_AT = SearchAttributeKey.for_datetime("CaseOpenedAt")
CASE_DUE_AT = SearchAttributeKey.for_datetime("CaseDueAt")
CASE_ESCALATED = SearchAttributeKey.for_bool("CaseEscalated")
CASE_SEVERITY = SearchAttributeKey.for_keyword("CaseSeverity")

ALL: list[SearchAttributeKey[Any]] = [
    INVOICE_ID, SUPPLIER_ID, COMPANY_CODE, INVOICE_STATUS, EXCEPTION_OWNER, EXCEPTION_TYPE,
    CASE_OPENED_AT, CASE_DUE_AT, CASE_ESCALATED, CASE_SEVERITY,
]
CASE_SLA: list[SearchAttributeKey[Any]] = [CASE_OPENED_AT, CASE_DUE_AT, CASE_ESCALATED, CASE_SEVERITY]


def type_name(key: SearchAttributeKey[Any]) -> str:
    """The temporal CLI's and tcld's name of the key's type: Keyword, Datetime, Bool, KeywordList."""
    return key.indexed_value_type.name.title().replace("_", "")


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` for `temporal server start-dev` and operator commands."""
    return [f"{key.name}={type_name(key)}" for key in ALL]
