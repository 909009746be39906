"""From bank documents to lifecycle signals. Every payment is matched through finsync's
payment register by EndToEndId *and* the original MsgId, never by EndToEndId alone: the bank
pays the same EndToEndId twice if it comes in two files."""

from canonical.bank import BankStatement, PaymentReturn, PaymentStatusReport
from canonical.inbox import Delivery
from canonical.payment import BankStatus, BankStatusReport

_ACCEPTED = {"ACCP", "ACSC", "ACSP", "ACWC"}


def deliveries_for_status(report: PaymentStatusReport, registers) -> tuple[list[Delivery], list[str]]:
    if report.group_reason_code == "DUPL":
        # The bank refused a resend of a MsgId it already has: that is "already received",
        # and the first file's own pain.002 carries the real answers.
        return [], []
    found, problems = [], []
    if report.group_status == "RJCT" and not report.transactions:
        for record in registers.payments_in_message(report.original_message_id):
            found.append(_delivery(record.workflow_id, "bank_status", report.message_id, record.end_to_end_id,
                                   BankStatus.REJECTED, report.group_reason_code))
        if not found:
            problems.append(f"whole-file rejection of {report.original_message_id}, a file finsync did not send")
        return found, problems
    for tx in report.transactions:
        record = registers.payment(tx.end_to_end_id)
        if record is None or record.message_id != report.original_message_id:
            problems.append(f"status {tx.status} for unknown payment {tx.end_to_end_id} "
                            f"in {report.original_message_id}")
            continue
        if tx.status in _ACCEPTED:
            status = BankStatus.ACCEPTED
        elif tx.status == "RJCT":
            status = BankStatus.REJECTED
        else:
            continue  # pending: the final status follows
        found.append(_delivery(record.workflow_id, "bank_status", report.message_id, tx.end_to_end_id, status,
                               tx.reason_code, tx.reason_text))
    return found, problems


def deliveries_for_statement(statement: BankStatement, registers) -> tuple[list[Delivery], list[str]]:
    """camt.054: a debit is our payment settled; a return credit is our payment back."""
    found, problems = [], []
    for entry in statement.entries:
        if entry.direction == "CRDT" and not entry.is_return:
            continue  # money in, not a payment of ours
        record = registers.payment(entry.end_to_end_id) if entry.end_to_end_id else None
        if record is None or (entry.original_message_id and entry.original_message_id != record.message_id):
            problems.append(f"{entry.direction} {entry.amount} {entry.currency} "
                            f"({entry.end_to_end_id or 'no EndToEndId'}) matches no payment of finsync")
            continue
        status = BankStatus.RETURNED if entry.is_return else BankStatus.SETTLED
        found.append(_delivery(record.workflow_id, "bank_status", statement.message_id, entry.end_to_end_id, status,
                               entry.return_reason_code, booking_date=entry.booking_date or entry.value_date,
                               amount=entry.amount))
    return found, problems


def deliveries_for_return(payment_return: PaymentReturn, registers) -> tuple[list[Delivery], list[str]]:
    record = registers.payment(payment_return.end_to_end_id)
    original = payment_return.original_message_id
    if record is None or (original and original != record.message_id):
        return [], [f"return of unknown payment {payment_return.end_to_end_id} ({payment_return.original_message_id})"]
    return [_delivery(record.workflow_id, "bank_status", payment_return.message_id, payment_return.end_to_end_id,
                      BankStatus.RETURNED, payment_return.reason_code, amount=payment_return.amount,
                      booking_date=payment_return.settlement_date)], []


def _delivery(workflow_id, signal, message_id, e2e, status, reason_code=None, reason_text=None, booking_date=None,
              amount=None) -> Delivery:
    return Delivery(workflow_id=workflow_id, signal=signal, report=BankStatusReport(
        message_id=message_id, end_to_end_id=e2e, status=status, reason_code=reason_code, reason_text=reason_text,
        booking_date=booking_date, amount=amount))
