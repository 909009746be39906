"""What a supplier may read in our Peppol Invoice Responses: fixed, reviewed texts only.

A case reason is written for our own people: it names staff, ERP documents, accounts and, for a
held bank-details change, the very fact that the change was caught, which tells a fraudster to
try another way. So a response never carries a case reason or a note: each of our case types
maps to one reviewed text and its Peppol status reason code (OPStatusReason), a held bank-details
change reading like any other review ("payment under review"), and each response code has one
fixed note. `reviewed` is the last guard before sending (activities/supplier_responses.py):
whatever text is not in these tables is replaced by its code's neutral text.
"""

from canonical.invoice_response import REASON_CODES, REFUSAL_REASONS, InvoiceResponse, ResponseCode

C = ResponseCode

UNDER_REVIEW = ("OTH", ("Your invoice is under review. Payment will follow once the review is complete; "
                       "there is nothing you need to do."))
ORDER_REFERENCE = ("REF", ("The order reference on your invoice does not match our purchase order. "
                          "Please check the order reference, prices and quantities."))
UNKNOWN_ORDER = ("REF", "We can not find the purchase order your invoice refers to. Please check the order reference.")
DUPLICATE = REFUSAL_REASONS["duplicate"]
NOT_ACCEPTED = ("OTH", "Your invoice was not accepted. Please contact our accounts payable department for details.")
# OPStatusAction texts (none is sent today; a response may only ask with one of these).
NEW_INVOICE = ("NIN", "Please issue a new invoice.")
ACTIONS = frozenset({NEW_INVOICE, ("PIN", "Please send us the missing information.")})

# Our case types (canonical.exceptions.EXCEPTION_OWNERS) a supplier may be told more about than
# "under review": only questions the supplier can answer. Every other type, bank details and
# master data above all, is UNDER_REVIEW.
HOLD_TEXTS: dict[str, tuple[str, str]] = {
    "PurchaseOrderMismatch": ORDER_REFERENCE,
    "UnknownPurchaseOrder": UNKNOWN_ORDER,
    "DuplicateReferenceConflict": DUPLICATE,
}

NOTES: dict[ResponseCode, str] = {
    C.AB: "Invoice received.", C.IP: "Invoice in process.", C.UQ: "Invoice under review.",
    C.CA: "Invoice conditionally accepted.", C.RE: "Invoice not accepted.", C.AP: "Invoice accepted for payment.",
    C.PD: "Invoice paid.",
}

_REVIEWED: frozenset[tuple[str, str]] = frozenset(
    {UNDER_REVIEW, ORDER_REFERENCE, UNKNOWN_ORDER, DUPLICATE, NOT_ACCEPTED, *HOLD_TEXTS.values()})


def case_type_of(note: str) -> str:
    """The case type a hold's status note starts with (`<type>: <reason>`, InvoiceToPayment)."""
    head, sep, _ = note.partition(":")
    return head.strip() if sep and head.strip().isidentifier() else ""


def supplier_reasons(code: ResponseCode, case_type: str = "", duplicate: bool = False) -> list[tuple[str, str]]:
    """The status reasons a response of `code` carries: a query (UQ) names its case's reviewed
    text, a rejection (RE) the duplicate or a plain "not accepted"; others none."""
    if code is C.UQ:
        return [HOLD_TEXTS.get(case_type, UNDER_REVIEW)]
    if code is C.RE:
        return [DUPLICATE] if duplicate else [NOT_ACCEPTED]
    return []


def reviewed(response: InvoiceResponse) -> InvoiceResponse:
    """`response` with nothing but reviewed texts: a reason whose text is not in the tables
    becomes its code's neutral text (Peppol wants the reason code kept), the note the code's, and
an action not in ACTIONS is left out."""
    neutral = NOT_ACCEPTED if response.code is C.RE else UNDER_REVIEW
    reasons = [(c, t) if (c, t) in _REVIEWED else (c if c in REASON_CODES else neutral[0], neutral[1])
               for c, t in response.reasons]
    actions = [a for a in response.actions if a in ACTIONS]
    if reasons == response.reasons and actions == response.actions and response.note == NOTES[response.code]:
        return response
    return response.model_copy(update={"reasons": reasons, "actions": actions, "note": NOTES[response.code]})
