"""pain.001.001.09 (customer credit transfer initiation) from a canonical PaymentFile.

The file is fixed once built (DESIGN invariant 3): a retry must send the same bytes, so the
builder is a pure function of the PaymentFile. CreDtTm comes from file.created_at, every id
from the file and its payments; nothing reads the clock or draws a random id.

The XSD is vendored from the sepaxml 2.7.0 wheel (sepaxml/schemas/pain.001.001.09.xsd,
sha256 de038b37…fda24). It is the plain ISO 20022 schema, the same as the teghnet/iso20022
copy in guides/mock-bank.md §7: text fields are length-limited but have no charset
pattern (the EPC SEPA subset, restricted to Latin characters, is a bank's own rule). Names
are transliterated into that subset (sepa_name), so one supplier's name never gets a file
refused; references are sent as the ERP holds them, since the ERP clears on them.
"""

import re
import unicodedata
from decimal import Decimal
from functools import cache
from pathlib import Path

from lxml import etree

from canonical.bank import PaymentFile
from canonical.money import check_scale, format_amount

NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
XSD_PATH = Path(__file__).parent / "schemas" / "pain.001.001.09.xsd"

MAX_NAME = 140  # Nm is Max140Text
MAX_ID = 35  # MsgId, PmtInfId, InstrId, EndToEndId and CdtrRefInf/Ref are Max35Text
MAX_USTRD = 140

# The EPC's SEPA character set (Latin basic): banks refuse a whole file over one character
# outside it, so names are transliterated into it (sepa_text). Letters that do not decompose
# into a base letter and accents are spelled out; "&" is the "+" SEPA allows instead.
_SEPA_OTHER = re.compile(r"[^a-zA-Z0-9/\-?:().,'+ ]")
_SPELLED = str.maketrans({"ß": "ss", "ẞ": "SS", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
                          "Đ": "D", "đ": "d", "Ð": "D", "ð": "d", "Ł": "L", "ł": "l", "Þ": "TH", "þ": "th",
                          "\u0131": "i", "&": "+", "\u2019": "'", "\u2018": "'", "\u201c": "'", "\u201d": "'", '"': "'",
                          "_": "-", "\u2013": "-", "\u2014": "-", ";": ",", "!": "."})
NOT_PROVIDED = "NOTPROVIDED"  # ISO 20022's placeholder, for a name with nothing SEPA can carry

# Characters XML 1.0 cannot carry at all (C0 controls other than tab/LF/CR, surrogates,
# U+FFFE/U+FFFF); lxml refuses them, so they have to go before the tree is built.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class PaymentFileInvalid(ValueError):
    """The file would be refused (by the schema or by the bank's whole-file checks); nothing
    was sent. `findings` lists every problem, one line each."""

    def __init__(self, findings: list[str]):
        self.findings = list(findings)
        shown = "; ".join(self.findings[:5]) + (f" (+{len(self.findings) - 5} more)" if len(self.findings) > 5 else "")
        super().__init__(f"payment file invalid: {shown}")


def clean_text(value: str, limit: int) -> str:
    """NFC, no XML-illegal characters, one space for any run of whitespace (a newline in a
    name ends up in the beneficiary's statement), cut to the schema's length."""
    text = _NOT_XML.sub("", unicodedata.normalize("NFC", value))
    return " ".join(text.split())[:limit].rstrip()


def sepa_text(value: str, limit: int) -> str:
    """`value` in the SEPA character set: accents stripped ("Müller" -> "Muller"), letters
    spelled out ("Søn" -> "Son", "ß" -> "ss"), "&" as "+", anything else a space; then as
    clean_text, cut to `limit` after transliterating (a spelled-out letter is longer)."""
    spelled = unicodedata.normalize("NFKD", _NOT_XML.sub("", value).translate(_SPELLED))
    bare = "".join(c for c in spelled if not unicodedata.combining(c)).translate(_SPELLED)
    return clean_text(_SEPA_OTHER.sub(" ", bare), limit)


def sepa_name(value: str) -> str:
    """A party's name for Nm: SEPA characters only. A name with none left (all CJK, say) is
    sent as NOTPROVIDED rather than making the bank refuse the whole file over it: the IBAN,
    not the name, says who is paid."""
    return sepa_text(value, MAX_NAME) or NOT_PROVIDED


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{NS}}}{tag}", attrib)
    if text is not None:
        node.text = text
    return node


def _agent(parent: etree._Element, tag: str, bic: str | None) -> None:
    institution = _el(_el(parent, tag), "FinInstnId")
    if bic:  # an empty FinInstnId is the schema's "not provided" (IBAN-only SEPA)
        _el(institution, "BICFI", bic.strip().upper())


def _account(parent: etree._Element, tag: str, iban: str, currency: str | None = None) -> None:
    account = _el(parent, tag)
    _el(_el(account, "Id"), "IBAN", iban.replace(" ", "").upper())
    if currency:
        _el(account, "Ccy", currency)


def build_pain001(file: PaymentFile) -> bytes:
    """The pain.001.001.09 bytes for `file`: same PaymentFile, identical bytes. Raises
    PaymentFileInvalid for what the schema cannot carry (an id over 35 characters, an amount
    with more decimals than its currency, a name that is empty once cleaned)."""
    findings: list[str] = []
    amounts: list[Decimal] = []
    for p in file.payments:
        try:
            amounts.append(check_scale(p.amount, p.currency, f"payment {p.end_to_end_id} amount"))
        except ValueError as exc:
            findings.append(str(exc))
            amounts.append(p.amount)
        if not 0 < len(p.end_to_end_id) <= MAX_ID:
            findings.append(f"EndToEndId {p.end_to_end_id!r} must have 1 to {MAX_ID} characters")
        if p.amount <= 0:
            findings.append(f"payment {p.end_to_end_id} amount must be positive")
        if not clean_text(p.creditor_name, MAX_NAME):
            findings.append(f"payment {p.end_to_end_id} has no creditor name")
        if not p.creditor_iban:  # an account known by routing and number is paid in a NACHA file
            findings.append(f"payment {p.end_to_end_id} has no creditor IBAN")
        reference = clean_text(p.remittance_reference, 10 * MAX_USTRD)
        if not 0 < len(reference) <= MAX_USTRD:  # cutting it would break the ERP's clearing
            findings.append(f"payment {p.end_to_end_id} remittance reference must have 1 to {MAX_USTRD} characters")
    if not clean_text(file.debtor.name, MAX_NAME):
        findings.append("the debtor has no name")
    if findings:
        raise PaymentFileInvalid(findings)

    count, total = str(len(file.payments)), format_amount(sum(amounts, Decimal(0)))
    debtor_name = sepa_name(file.debtor.name)

    root = etree.Element(f"{{{NS}}}Document", nsmap={None: NS})
    initiation = _el(root, "CstmrCdtTrfInitn")
    header = _el(initiation, "GrpHdr")
    _el(header, "MsgId", file.message_id)
    # Seconds only: nothing matches on CreDtTm, and sub-second noise would only make it harder to read.
    _el(header, "CreDtTm", file.created_at.isoformat(timespec="seconds"))
    _el(header, "NbOfTxs", count)
    _el(header, "CtrlSum", total)
    _el(_el(header, "InitgPty"), "Nm", debtor_name)

    batch = _el(initiation, "PmtInf")
    _el(batch, "PmtInfId", file.payment_info_id)
    _el(batch, "PmtMtd", "TRF")
    _el(batch, "NbOfTxs", count)
    _el(batch, "CtrlSum", total)
    _el(_el(batch, "ReqdExctnDt"), "Dt", file.execution_date.isoformat())
    _el(_el(batch, "Dbtr"), "Nm", debtor_name)
    _account(batch, "DbtrAcct", file.debtor.iban, file.debtor.currency)
    _agent(batch, "DbtrAgt", file.debtor.bic)

    for p, amount in zip(file.payments, amounts, strict=True):
        tx = _el(batch, "CdtTrfTxInf")
        ids = _el(tx, "PmtId")
        _el(ids, "InstrId", p.end_to_end_id)
        _el(ids, "EndToEndId", p.end_to_end_id)
        _el(_el(tx, "Amt"), "InstdAmt", format_amount(amount), Ccy=p.currency)
        if p.creditor_bic:
            _agent(tx, "CdtrAgt", p.creditor_bic)
        _el(_el(tx, "Cdtr"), "Nm", sepa_name(p.creditor_name))
        assert p.creditor_iban is not None  # checked above
        _account(tx, "CdtrAcct", p.creditor_iban)
        _remittance(tx, clean_text(p.remittance_reference, MAX_USTRD))

    # Compact: whitespace would be ~40% of a large file, and the bank caps a POST at 32 MiB.
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _remittance(tx: etree._Element, reference: str) -> None:
    # The ERP invoice reference is what SAP clears on, so it goes where the bank passes it on
    # unchanged: Strd/CdtrRefInf/Ref (Max35Text; Tp is optional in this schema). A longer
    # reference does not fit there and goes as unstructured text instead of being cut.
    info = _el(tx, "RmtInf")
    if len(reference) <= MAX_ID:
        _el(_el(_el(info, "Strd"), "CdtrRefInf"), "Ref", reference)
    else:
        _el(info, "Ustrd", reference)


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


# No DTDs, no entities, no network: the bytes may come from anywhere in a retry path.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def validate_pain001(xml: bytes) -> None:
    """Check a pain.001.001.09 before it is sent: the XSD, then the whole-file checks the
    bank makes that a schema cannot (NbOfTxs → AM18, CtrlSum → AM10, repeated EndToEndId →
    AM05). Raises PaymentFileInvalid listing every finding."""
    try:
        doc = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise PaymentFileInvalid([f"not well-formed XML: {exc}"]) from None
    schema = _schema()
    if not schema.validate(doc):
        raise PaymentFileInvalid([f"line {e.line}: {e.message}" for e in schema.error_log])
    findings = _count_checks(doc)
    if findings:
        raise PaymentFileInvalid(findings)


def _count_checks(doc: etree._Element) -> list[str]:
    ns = {"p": NS}
    findings: list[str] = []

    def check(where: str, scope: etree._Element, txs: list[etree._Element]) -> None:
        declared = scope.findtext("p:NbOfTxs", namespaces=ns)
        if declared is not None and int(declared) != len(txs):
            findings.append(f"{where} NbOfTxs {declared} but {len(txs)} transactions (AM18)")
        ctrl = scope.findtext("p:CtrlSum", namespaces=ns)
        total = sum((instructed(t) for t in txs), Decimal(0))
        if ctrl is not None and Decimal(ctrl) != total:
            findings.append(f"{where} CtrlSum {ctrl} but the amounts add up to {format_amount(total)} (AM10)")

    def instructed(tx: etree._Element) -> Decimal:
        amount = tx.findtext("p:Amt/p:InstdAmt", namespaces=ns)
        assert amount is not None  # the XSD, checked first, requires it
        return Decimal(amount)

    initiation = doc.find("p:CstmrCdtTrfInitn", ns)
    header = initiation.find("p:GrpHdr", ns) if initiation is not None else None
    assert initiation is not None and header is not None  # the XSD, checked first, requires both
    all_txs: list[etree._Element] = []
    seen: set[str | None] = set()
    for batch in initiation.findall("p:PmtInf", ns):
        txs = batch.findall("p:CdtTrfTxInf", ns)
        check(f"PmtInf {batch.findtext('p:PmtInfId', namespaces=ns)}", batch, txs)
        all_txs += txs
    check("GrpHdr", header, all_txs)
    for tx in all_txs:
        e2e = tx.findtext("p:PmtId/p:EndToEndId", namespaces=ns)
        if e2e in seen:  # the bank would pay the first and reject the second (AM05)
            findings.append(f"EndToEndId {e2e} appears more than once (AM05)")
        seen.add(e2e)
    return findings


def payment_accounts(xml: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(PmtInfId -> debtor IBAN, EndToEndId -> creditor IBAN) of a file finsync built: what the
    audit trail shows of who paid whom, masked (canonical.audit.mask_iban)."""
    ns = {"p": NS}
    doc = etree.fromstring(xml, _PARSER)
    debtors: dict[str, str] = {}
    creditors: dict[str, str] = {}
    for batch in doc.iterfind("p:CstmrCdtTrfInitn/p:PmtInf", ns):
        debtors[batch.findtext("p:PmtInfId", "", ns)] = batch.findtext("p:DbtrAcct/p:Id/p:IBAN", "", ns)
        for tx in batch.iterfind("p:CdtTrfTxInf", ns):
            creditors[tx.findtext("p:PmtId/p:EndToEndId", "", ns)] = tx.findtext("p:CdtrAcct/p:Id/p:IBAN", "", ns)
    return debtors, creditors
