"""Bank messages (ISO 20022) into canonical models: pain.002 status reports, camt.052/053/054
statements and notifications, pacs.004 returns.

Matching is the workflow's job, but what it matches on comes from here: EndToEndId TOGETHER
WITH the original MsgId/PmtInfId, never the EndToEndId alone (the bank pays the same
EndToEndId again when it comes in a new file).
"""

from collections.abc import Sequence
from typing import Literal, overload

from adapters.iso20022.camt import read_camt, read_camt_all, statement_balances
from adapters.iso20022.xml import Node, UnreadableBankMessage, parse, readable
from canonical.bank import (
    BankStatement,
    MessageKind,
    PaymentReturn,
    PaymentStatusReport,
    TransactionStatus,
)

__all__ = [
    "UnreadableBankMessage", "is_duplicate_file_report", "read_camt", "read_camt_all", "read_message",
    "read_message_all", "read_pacs004", "read_pacs004_all", "read_pain002", "statement_balances",
]

BankDocument = PaymentStatusReport | BankStatement | PaymentReturn

# Transaction statuses of later pain.002 versions that the canonical model does not name,
# mapped to the nearest one it does. Anything else is refused, not guessed.
_TX_STATUS = {
    "ACCP": "ACCP", "ACSC": "ACSC", "ACSP": "ACSP", "ACWC": "ACWC", "PDNG": "PDNG", "RJCT": "RJCT",
    "ACTC": "PDNG",  # technically valid, not yet accepted for execution
    "RCVD": "PDNG",  # received, nothing decided
    "ACFC": "ACCP",  # accepted, funds checked
    "ACWP": "ACCP",  # accepted without posting
    "ACCC": "ACSC",  # settled on the creditor's account
    "CANC": "RJCT",  # cancelled: will not be paid
}


def _reason(node: Node) -> tuple[str | None, str | None]:
    """(code, prose) of the first StsRsnInf; several AddtlInf lines are joined."""
    info = node.find("StsRsnInf")
    if info is None:
        return None, None
    text = " ".join(t.el.text.strip() for t in info.findall("AddtlInf") if t.el.text)
    return info.text("Rsn/Cd") or info.text("Rsn/Prtry"), text or None


@readable
def read_pain002(body: str | bytes) -> PaymentStatusReport:
    """A status report for one of our files.

    group_status None means a transaction-level update only (the bank's settlement-day
    rejection after an earlier ACCP). group_status RJCT with group_reason_code "DUPL" is the
    bank saying it ALREADY HAS a file with this MsgId: it is not a rejection of that file,
    whose own pain.002 stands; see is_duplicate_file_report. Any other group RJCT with no
    transactions listed rejects every payment in the file.
    """
    message, name = parse(body, "pain.002")
    message_id = message.required("GrpHdr/MsgId", f"{name} message id")
    group = message.find("OrgnlGrpInfAndSts")
    if group is None:
        raise UnreadableBankMessage(f"{name} {message_id} has no OrgnlGrpInfAndSts")
    # Kept as "NOTPROVIDED" when the bank could not read our MsgId (an unreadable file):
    # readable, but it matches no file; only the HTTP answer to the POST tells which one.
    original_message_id = group.text("OrgnlMsgId")
    if original_message_id is None:
        raise UnreadableBankMessage(f"{name} {message_id}: OrgnlGrpInfAndSts/OrgnlMsgId is missing")
    group_code, _ = _reason(group)
    batches = message.findall("OrgnlPmtInfAndSts")
    transactions = []
    for batch in batches:
        for tx in batch.findall("TxInfAndSts"):
            e2e = tx.required("OrgnlEndToEndId", f"{name} {message_id} OrgnlEndToEndId")
            raw = tx.text("TxSts") or batch.text("PmtInfSts")
            if raw not in _TX_STATUS:
                raise UnreadableBankMessage(f"{name} {message_id}: status {raw!r} for {e2e} is not one finsync knows")
            code, text = _reason(tx)
            transactions.append(
                TransactionStatus(end_to_end_id=e2e, status=_TX_STATUS[raw], reason_code=code, reason_text=text)
            )
    return PaymentStatusReport(
        message_id=message_id,
        original_message_id=original_message_id,
        original_payment_info_id=batches[0].id("OrgnlPmtInfId") if batches else None,
        group_status=group.text("GrpSts"),
        group_reason_code=group_code,
        transactions=transactions,
    )


def is_duplicate_file_report(report: PaymentStatusReport) -> bool:
    """The bank's answer to a resend of a MsgId it already holds: "already have it"."""
    return report.group_status == "RJCT" and report.group_reason_code == "DUPL"


@readable
def read_pacs004_all(body: str | bytes) -> list[PaymentReturn]:
    """Every returned payment in a pacs.004. The bank sends one pacs.004 per account, day
    and original file, so two payments of one file coming back the same day share one."""
    message, name = parse(body, "pacs.004")
    message_id = message.required("GrpHdr/MsgId", f"{name} message id")
    group_original = message.id("OrgnlGrpInf/OrgnlMsgId")
    group_day = message.day("GrpHdr/IntrBkSttlmDt")
    returns = []
    for tx in message.findall("TxInf"):
        e2e = tx.required("OrgnlEndToEndId", f"{name} {message_id} OrgnlEndToEndId")
        # What comes back, else what went out (a return is normally the full amount).
        amount = (tx.amount("RtrdIntrBkSttlmAmt") or tx.amount("OrgnlIntrBkSttlmAmt")
                  or tx.amount("OrgnlTxRef/Amt/InstdAmt"))
        if amount is None or amount[1] is None:
            raise UnreadableBankMessage(f"{name} {message_id}: no returned amount for {e2e}")
        returns.append(PaymentReturn(
            message_id=message_id,
            original_message_id=tx.id("OrgnlGrpInf/OrgnlMsgId") or group_original,
            end_to_end_id=e2e,
            return_id=tx.id("RtrId"),
            amount=amount[0],
            currency=amount[1],
            reason_code=tx.text("RtrRsnInf/Rsn/Cd") or tx.text("RtrRsnInf/Rsn/Prtry"),
            settlement_date=tx.day("IntrBkSttlmDt") or group_day,
        ))
    if not returns:
        raise UnreadableBankMessage(f"{name} {message_id} returns no transaction")
    return returns


def read_pacs004(body: str | bytes) -> PaymentReturn:
    """The one return in a pacs.004. One with several is refused (UnreadableBankMessage)
    rather than cut short: use read_pacs004_all, or read_message_all in the inbox."""
    returns = read_pacs004_all(body)
    if len(returns) != 1:
        raise UnreadableBankMessage(
            f"pacs.004 {returns[0].message_id} returns {len(returns)} payments; use read_pacs004_all"
        )
    return returns[0]


@overload
def read_message_all(kind: Literal[MessageKind.STATUS_REPORT], body: str | bytes) -> list[PaymentStatusReport]: ...
@overload
def read_message_all(kind: Literal[MessageKind.RETURN], body: str | bytes) -> list[PaymentReturn]: ...
@overload
def read_message_all(kind: Literal[MessageKind.STATEMENT, MessageKind.INTRADAY_REPORT, MessageKind.NOTIFICATION],
                     body: str | bytes) -> list[BankStatement]: ...
@overload
def read_message_all(kind: MessageKind, body: str | bytes) -> list[BankDocument]: ...


def read_message_all(kind: MessageKind, body: str | bytes) -> Sequence[BankDocument]:
    """Every canonical document in a bank message: the inbox's reader, because one pacs.004
    can return several payments and one camt several accounts."""
    if kind is MessageKind.STATUS_REPORT:
        return [read_pain002(body)]
    if kind is MessageKind.RETURN:
        return list(read_pacs004_all(body))
    statements = read_camt_all(body)
    if statements[0].kind is not kind:
        raise UnreadableBankMessage(f"announced as {kind.value} but the document is a {statements[0].kind.value}")
    return list(statements)


def read_message(kind: MessageKind, body: str | bytes) -> BankDocument:
    """The canonical document in a bank message of one item (what the mock sends, except a
    pacs.004 returning several payments of one file: see read_message_all)."""
    documents = read_message_all(kind, body)
    if len(documents) != 1:
        raise UnreadableBankMessage(f"{kind.value} holds {len(documents)} items; use read_message_all")
    return documents[0]
