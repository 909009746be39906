"""Payment-side ERP operations on SAP: a payment run's claim on an invoice, the invoice's open
item, and clearing by bank statement (FINSTA01 IDoc). guides/mock-sap.md §5.5, §6, §7.

Every call goes through the given SapClient's own HTTP path (`_get_entity`, `_send`, `_write`:
one CSRF token cache, one refetch rule, one error mapping), so the errors are the same four:
SapTransientError (retry), SapBusinessError (a person), SapOutcomeUnknown (look it up first).

What the workflow must know:
  * Clearing happens ONLY through post_bank_statement; it also releases the run's claim on
    the invoice, and a returned payment (RET) reopens the item with its claim released too.
  * SAP does not de-duplicate statements: re-posting one clears again (guide §7.3). Register
    (account, statement number) before acting and never call post_bank_statement twice.
"""

import logging
from datetime import date
from decimal import Decimal

from pydantic import BaseModel

from adapters.finsta import FinstaLine, LeftOut, build_finsta01
from adapters.sap import SapClient
from adapters.sap_clearing_twins import TWIN_FIELDS, claimed_twins
from adapters.sap_errors import SapBusinessError, raise_for_sap_status
from adapters.sap_odata import ODATA, format_date, invoice_path, literal, parse_date
from canonical.bank import BankStatement, describe_left_out
from canonical.erp import OpenItem
from canonical.masking import mask_bank_details
from canonical.money import MINOR_UNITS, Money
from canonical.status import ErpDocument

log = logging.getLogger(__name__)

OPEN_ITEM_SRV = f"{ODATA}/API_OPLACCTGDOCITEMCUBE_SRV"
SUPPLIER_INVOICE_SRV = f"{ODATA}/API_SUPPLIERINVOICE_PROCESS_SRV"
IDOC = "/sap/bc/idoc"
MAX_RUN_ID = 6  # F110's LAUFI; SAP refuses a longer PaymentRunID with a 400
POSTED = "53"  # IDoc status "Application document posted"; 51/56/68 posted nothing


def _amount(text: str, currency: str) -> Decimal:
    """SAP writes invoice and payable amounts with 2 decimals but open items and returns with
    3 ("1190.000"). Same value; brought to the currency's minor units (when exact) so both
    print alike in workflow state."""
    value = Decimal(text)
    if currency not in MINOR_UNITS:
        return value
    scaled = value.quantize(Decimal(1).scaleb(-MINOR_UNITS[currency]))
    return scaled if scaled == value else value


class _Line(BaseModel):
    line: str  # the FINSTA01 line number; end_to_end_id/entry_reference tie it back to the bank entry
    reference: str = ""
    end_to_end_id: str | None = None
    entry_reference: str | None = None


class ClearedLine(_Line):
    accounting_document: str
    clearing_document: str
    amount: Money


class ReopenedLine(_Line):
    accounting_document: str
    reversal_document: str
    amount: Money


class UnprocessedLine(_Line):
    reason: str


class StatementPosting(BaseModel):
    idoc_number: str
    status: str
    statement_number: str
    account: str
    cleared: list[ClearedLine] = []
    reopened: list[ReopenedLine] = []
    unprocessed: list[UnprocessedLine] = []  # sent, and SAP cleared nothing with it: the reconciliation gap
    left_out: list[LeftOut] = []  # never sent: finsync could not attribute the entry
    findings: list[str] = []  # the statement does not add up, or one before it is missing
    message: str = ""

    @property
    def erp_reference(self) -> str:
        """What the statement register keeps of the post (ErpPort's StatementPostingLike)."""
        return self.idoc_number

    def problems(self, statement_key: str) -> list[str]:
        """Lines SAP cleared nothing with, its findings, and the debits and returns left out."""
        problems = [f"statement {statement_key} line {u.line} ({u.reference or 'no reference'}): {u.reason}"
                    for u in self.unprocessed]
        problems += [f"statement {statement_key}: {finding}" for finding in self.findings]
        return problems + describe_left_out(statement_key, [(left.entry, left.reason) for left in self.left_out])


STATEMENT_TIMEOUT_SECONDS = 600.0


class IdocNotPosted(SapBusinessError):
    """HTTP 201 but the IDoc's status says the application posted nothing (51/56/68)."""

    def __init__(self, idoc_number: str, idoc_status: str, text: str):
        super().__init__(201, f"IDOC/{idoc_status}", f"IDoc {idoc_number} not posted (status {idoc_status}): {text}")
        self.idoc_number = idoc_number
        self.idoc_status = idoc_status


CLAIM_FIELDS = f"CompanyCode,PaymentRunID,PaymentRunDate,PaymentBlockingReason,{TWIN_FIELDS}"


def claim_fields(run_id: str, run_date: date) -> dict:
    return {"PaymentRunID": run_id, "PaymentRunDate": format_date(run_date)}


RELEASED_CLAIM = {"PaymentRunID": "", "PaymentRunDate": None}


def is_claimed_by(invoice: dict | None, run_id: str, run_date: date) -> bool:
    return (invoice is not None and (invoice.get("PaymentRunID") or "") == run_id
            and parse_date(invoice.get("PaymentRunDate")) == run_date)


def claim_refusal(doc: ErpDocument, invoice: dict | None, item: OpenItem | None,
                  run_id: str) -> SapBusinessError | None:
    """Why the run may not claim this invoice (the invoice's CLAIM_FIELDS and its open item
    as SAP shows them), or None: another run's claim, no open item, already cleared (paying it
    would pay twice), payment-blocked."""
    name = f"invoice {doc.invoice_document}/{doc.fiscal_year}"
    if invoice is None:
        return SapBusinessError(404, "/IWBEP/CX_MGW_RESOURCE_NOT_FOUND", f"{name} does not exist in SAP")
    current = invoice.get("PaymentRunID") or ""
    if current and current != run_id:
        return SapBusinessError(409, "FINSYNC/CLAIMED", f"{name} is already in payment run {current}")
    if item is None:
        return SapBusinessError(409, "FINSYNC/NO_OPEN_ITEM", f"{name} has no supplier item to pay")
    if item.is_cleared:
        return SapBusinessError(409, "FINSYNC/CLEARED",
                                f"{name} was cleared by {item.clearing_document} on {item.clearing_date}")
    if invoice.get("PaymentBlockingReason"):
        return SapBusinessError(409, "FINSYNC/BLOCKED", f"{name} has payment block {invoice['PaymentBlockingReason']}")
    return None


def open_item_filter(doc: ErpDocument, company_code: str) -> str:
    return (f"AccountingDocument eq {literal(doc.accounting_document)} and CompanyCode eq {literal(company_code)} "
            f"and FiscalYear eq {literal(doc.fiscal_year)} and AccountingDocumentItemType eq 'K'")


def to_open_item(doc: ErpDocument, rows: list[dict]) -> OpenItem | None:
    """The supplier line of the invoice's accounting document from the cube's rows."""
    rows = sorted(rows, key=lambda r: r["AccountingDocumentItem"])
    if not rows:
        return None
    if len(rows) > 1:
        log.warning("accounting document %s has %d supplier items; reading the first", doc.accounting_document,
                    len(rows))
    row = rows[0]
    currency = row["TransactionCurrency"]
    return OpenItem(
        accounting_document=row["AccountingDocument"], company_code=row["CompanyCode"], fiscal_year=row["FiscalYear"],
        supplier_id=row.get("Supplier", ""), amount=_amount(row["AmountInTransactionCurrency"], currency),
        currency=currency, net_due_date=parse_date(row.get("NetDueDate")),
        payment_block=row.get("PaymentBlockingReason", ""), payment_run_id=row.get("PaymentRunID", ""),
        payment_run_date=parse_date(row.get("PaymentRunDate")),
        clearing_document=row.get("ClearingAccountingDocument", ""), clearing_date=parse_date(row.get("ClearingDate")),
        clearing_is_reversed=bool(row.get("ClearingIsReversed")),
    )


class SapPayments:
    """Uses SapClient's private HTTP hooks on purpose: a second client would mean a second
    CSRF cache and a second translation of SAP's errors."""

    def __init__(self, sap: SapClient):
        self._sap = sap

    # -- payment-run claim -----------------------------------------------------------------

    async def claim_for_payment_run(self, doc: ErpDocument, run_id: str, run_date: date) -> None:
        """Write the run's claim (PaymentRunID ≤ 6 chars, PaymentRunDate) on the invoice; it
        propagates to the open item. Idempotent for the same run. SapBusinessError 409 when
        another run holds it (FINSYNC/CLAIMED), it is already cleared (FINSYNC/CLEARED: paying
        it would pay twice), payment-blocked (FINSYNC/BLOCKED) or another supplier's invoice with
        the same reference and amount is in payment (FINSYNC/TWIN_CLAIMED); a refusal leaves a claim of
        this run in place, so release it if the invoice leaves the run. Read-then-write:
        A_SupplierInvoice has no ETag, so runs on the same invoice must not race (DESIGN:
        runs are serialised per paying account). A whole run claims in chunks through
        adapters/sap_run_claims.py with the same rules."""
        invoice = await self._sap._get_entity(invoice_path(doc), {"$select": CLAIM_FIELDS})
        item = await self.open_item(doc, invoice["CompanyCode"]) if invoice else None
        refusal = claim_refusal(doc, invoice, item, run_id)
        if refusal is None and invoice is not None:  # a twin another supplier has in payment (sap_clearing_twins)
            refusal = (await claimed_twins(self._sap, [invoice])).refusal(doc, invoice)
        if refusal is not None:
            raise refusal
        if not is_claimed_by(invoice, run_id, run_date):  # already ours: a retried activity writes nothing
            await self._patch_claim(doc, claim_fields(run_id, run_date))

    async def release_from_payment_run(self, doc: ErpDocument) -> None:
        """A cancelled run gives the invoice back to the next one. Not needed after clearing
        or a return: SAP releases the claim itself then."""
        await self._patch_claim(doc, RELEASED_CLAIM)

    async def _patch_claim(self, doc: ErpDocument, fields: dict) -> None:
        # Only the claim fields: SAP lets a PATCH change any field of a posted invoice.
        await self._sap._write("PATCH", SUPPLIER_INVOICE_SRV, invoice_path(doc), fields, headers={"If-Match": "*"})

    # -- open item -------------------------------------------------------------------------

    async def open_item(self, doc: ErpDocument, company_code: str) -> OpenItem | None:
        """The invoice's supplier line, open or cleared; None if SAP has none. `is_cleared`
        is "paid" in DESIGN's sense (the ERP cleared it from a bank statement)."""
        response = await self._sap._send(
            "GET", f"{OPEN_ITEM_SRV}/A_OperationalAcctgDocItemCube",
            params={"$filter": open_item_filter(doc, company_code)},
        )
        raise_for_sap_status(response)
        return to_open_item(doc, response.json()["d"]["results"])

    # -- bank statement --------------------------------------------------------------------

    async def ready_for_statement(self) -> None:
        """Fetch the IDoc endpoint's CSRF token now: once the caller has claimed a statement,
        the POST is then the only request, so a failure after the claim is the post's own."""
        await self._sap._csrf_token(IDOC)

    async def post_bank_statement(self, statement: BankStatement,
                                  our_account_bic: str | None = None) -> StatementPosting:
        """Post the camt.053 as FINSTA01: debits with a reference clear the invoices they pay,
        returns with a reference reopen them. Call at most ONCE per statement: SAP does not
        de-duplicate, a second post clears again (and can clear a different supplier's item).
        On SapOutcomeUnknown, ask the ERP (adapters/sap_clearing.py) before anything else.
        IdocNotPosted (a SapBusinessError) when SAP received it but posted nothing."""
        idoc = build_finsta01(statement, bank_key=our_account_bic)
        response = await self._sap._write(
            "POST", IDOC, IDOC, None, content=idoc.xml,
            # SAP matches every line against every open item: a 1,000-line statement took
            # 45 s on the mock (bench/payment_cycle.py), so the usual 30 s would cut it off.
            timeout=STATEMENT_TIMEOUT_SECONDS,
            # JSON receipt: the XML one renders the outcome as a Python repr (guide §12.11).
            headers={"Content-Type": "application/xml", "Accept": "application/json"},
        )
        receipt = response.json()
        docnum, status = receipt.get("DOCNUM", ""), receipt.get("STATUS", "")
        if status != POSTED:
            raise IdocNotPosted(docnum, status, receipt.get("STATUS_TEXT", ""))
        applied = (receipt.get("APPLIED") or [{}])[0]
        sent = {line.line: line for line in idoc.lines}

        def tie(row: dict) -> dict:
            line: FinstaLine | None = sent.get(row.get("LINE", ""))
            return {
                "line": row.get("LINE", ""),
                "reference": row.get("REFERENCE") or (line.reference if line else ""),
                "end_to_end_id": line.entry.end_to_end_id if line else None,
                "entry_reference": line.entry.entry_reference if line else None,
            }

        def money(row: dict) -> Decimal:
            line = sent.get(row.get("LINE", ""))
            return _amount(row["AMOUNT"], line.entry.currency if line else statement.currency)

        posting = StatementPosting(
            idoc_number=docnum,
            status=status,
            statement_number=idoc.statement_number,
            account=idoc.account,
            cleared=[
                ClearedLine(**tie(r), accounting_document=r["ACCOUNTINGDOCUMENT"],
                            clearing_document=r["CLEARINGDOCUMENT"], amount=money(r))
                for r in applied.get("CLEARED", [])
            ],
            reopened=[
                ReopenedLine(**tie(r), accounting_document=r["ACCOUNTINGDOCUMENT"],
                             reversal_document=r["REVERSALDOCUMENT"], amount=money(r))
                for r in applied.get("REOPENED", [])
            ],
            unprocessed=[UnprocessedLine(**tie(r), reason=r.get("REASON", "")) for r in applied.get("UNPROCESSED", [])],
            left_out=idoc.left_out,
            findings=list(applied.get("FINDINGS", [])),
            message=applied.get("MESSAGE", ""),
        )
        # Masked: an account number never reaches the log in clear (invariant 9).
        log.info("statement %s on %s posted as IDoc %s: %s", posting.statement_number,
                 mask_bank_details(posting.account), docnum, mask_bank_details(posting.message))
        return posting
