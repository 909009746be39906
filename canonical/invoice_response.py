"""What finsync (the buyer) tells a supplier about its invoice: a Peppol Invoice Response (T111).

One response per status change. Its `response_id` is derived from the invoice key and the code
(and, for a code that may legitimately come twice, the occurrence), so the same status change
always carries the same id: that id is the idempotency key the adapter looks up before sending.

The order the codes may come in is Peppol BIS Invoice Response 3.x, "Invoice response process
rules" (https://docs.peppol.eu/poacc/upgrade-3/profiles/63-invoiceresponse/#invoice-response-process-rules),
rules OP-BR111-R004 / R005 / R012, as /work/shared/guides/mock-einvoice.md ("Answering",
"Process order") verified them against mock-einvoice 0.4.0 (mockeinvoice.buyer.out_of_order).
`allowed_next` is deliberately a little stricter than Peppol where finsync's process is:
AB always first, PD only after AP (Peppol alone would let PD follow e.g. AB), and no partial
payment (PD with reason PPD, which Peppol lets repeat) yet.
"""

import hashlib
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class ResponseCode(StrEnum):
    """UNCL4343 subset used by Peppol Invoice Response 3.x, in Peppol's process order."""

    AB = "AB"  # message acknowledgement: received
    IP = "IP"  # in process
    UQ = "UQ"  # under query
    CA = "CA"  # conditionally accepted
    RE = "RE"  # rejected (final)
    AP = "AP"  # accepted (approved and posted)
    PD = "PD"  # paid (final; cleared)


# Peppol's ORDER (OP-BR111-R012: a status never goes back in this order).
ORDER: tuple[ResponseCode, ...] = tuple(ResponseCode)

# OPStatusReason code list (Peppol BIS Invoice Response 3.x) and what finsync uses each for.
REASON_CODES: dict[str, str] = {
    "NON": "no issue", "REF": "references incorrect", "LEG": "legal information incorrect",
    "REC": "receiver unknown", "QUA": "item quality insufficient", "DEL": "delivery issues",
    "PRI": "prices incorrect", "QTY": "quantity incorrect", "ITM": "items incorrect",
    "PAY": "payment terms incorrect", "UNR": "not recognized", "FIN": "finance incorrect",
    "PPD": "partially paid", "OTH": "other",
}
# OPStatusAction code list: what the seller is asked to do.
ACTION_CODES: dict[str, str] = {
    "NOA": "no action required", "PIN": "provide information", "NIN": "issue new invoice",
    "CNF": "credit fully", "CNP": "credit partially", "CNA": "credit the amount", "OTH": "other",
}

# Suggested reasons for finsync's refusals (the lifecycle picks; these are not enforced).
REFUSAL_REASONS: dict[str, tuple[str, str]] = {
    "invalid": ("LEG", "the invoice fails EN 16931 / Peppol BIS 3 validation"),
    "duplicate": ("OTH", "duplicate: an invoice with this number was already received"),
    "po_mismatch": ("REF", "the order reference does not match a purchase order"),
    "unknown_receiver": ("REC", "the buyer endpoint is not ours"),
}

_REPEATABLE = {ResponseCode.UQ}  # Peppol R012: only UQ (and partial PD) may come twice


def allowed_next(previous: ResponseCode | None, code: ResponseCode) -> bool:
    """May `code` follow `previous` (the last response sent for this invoice, None if none)?

    - AB first (finsync acknowledges every receipt; Peppol itself allows any first).
    - Nothing after RE or PD (OP-BR111-R004).
    - Only PD after AP (OP-BR111-R005), and PD only after AP (finsync: paid means approved).
    - Never backwards in AB, IP, UQ, CA, RE, AP, PD; only UQ may repeat (OP-BR111-R012).
      So IP → UQ → UQ → AP is fine, UQ → IP is not, and RE/AP are the decisions.
    """
    code = ResponseCode(code)
    if previous is None:
        return code is ResponseCode.AB
    previous = ResponseCode(previous)
    if previous in (ResponseCode.RE, ResponseCode.PD):
        return False
    if previous is ResponseCode.AP:
        return code is ResponseCode.PD
    if code is ResponseCode.PD:
        return False
    was, now = ORDER.index(previous), ORDER.index(code)
    return now > was or (now == was and code in _REPEATABLE)


def response_id_for(invoice_key: str, code: ResponseCode, occurrence: int = 1) -> str:
    """Deterministic: the same status change of the same invoice always has the same id
    (cbc:ID of the ApplicationResponse). `occurrence` > 1 only for a repeated UQ."""
    seed = f"{invoice_key}|{ResponseCode(code).value}" + (f"|{occurrence}" if occurrence > 1 else "")
    return f"IR-{ResponseCode(code).value}-{hashlib.sha256(seed.encode()).hexdigest()[:20].upper()}"


class InvoiceResponse(BaseModel):
    """One status change to tell the supplier. Built by the lifecycle, sent by
    SupplierResponseActivities.send_invoice_response."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    invoice_key: str
    document_id: str = Field(description="the supplier's invoice number (BT-1) it answers")
    supplier_endpoint: str = Field(description="seller's Peppol endpoint, scheme:id (BT-34)")
    code: ResponseCode
    reasons: list[tuple[str, str]] = Field(default_factory=list, description="(OPStatusReason code, text)")
    actions: list[tuple[str, str]] = Field(default_factory=list, description="(OPStatusAction code, text)")
    note: str = ""
    occurrence: int = Field(default=1, ge=1, description="> 1 only for a repeated UQ")
    response_id: str = ""
    # What the UBL ApplicationResponse needs besides (PEPPOL-T111 requires both parties' legal
    # names; the supplier matches the response by invoice number AND type code).
    supplier_name: str
    # Our own party: the legal entity of `company_code` (canonical/entities.py). A lifecycle
    # leaves both empty and the sending activity names the entity's, or refuses when none is
    # configured; a response queued by an older build names them itself.
    company_code: str = Field(default="", description="the invoice's company code: whose party answers")
    buyer_endpoint: str = Field(default="", description="our Peppol endpoint, scheme:id (BT-49)")
    buyer_name: str = ""
    document_type_code: str = "380"
    document_issue_date: date | None = None

    @field_validator("supplier_endpoint", "buyer_endpoint")
    @classmethod
    def _scheme_id(cls, v: str, info: ValidationInfo) -> str:
        if not v and info.field_name == "buyer_endpoint":  # named by the sending activity
            return v
        scheme, sep, ident = v.partition(":")
        if not (sep and scheme and ident):
            raise ValueError(f"endpoint {v!r} is not scheme:id")
        return v

    @field_validator("reasons", "actions")
    @classmethod
    def _known_codes(cls, v: list[tuple[str, str]], info: ValidationInfo) -> list[tuple[str, str]]:
        kind, codes, code_list = (("reason", REASON_CODES, "OPStatusReason") if info.field_name == "reasons"
                                  else ("action", ACTION_CODES, "OPStatusAction"))
        unknown = [c for c, _ in v if c not in codes]
        if unknown:
            raise ValueError(f"{kind} codes {unknown} are not in {code_list}")
        return v

    @model_validator(mode="after")
    def _derived(self) -> "InvoiceResponse":
        expected = response_id_for(self.invoice_key, self.code, self.occurrence)
        if not self.response_id:
            object.__setattr__(self, "response_id", expected)
        elif self.response_id != expected:
            raise ValueError(f"response_id {self.response_id!r} is not the one derived ({expected})")
        if self.code is ResponseCode.RE and not self.reasons:
            raise ValueError("a rejection (RE) needs at least one reason (PEPPOL-T111-R001)")
        if self.occurrence > 1 and self.code not in _REPEATABLE:
            raise ValueError(f"{self.code} does not repeat; occurrence must be 1")
        return self

