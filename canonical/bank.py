"""Bank-side documents in finsync's words: the payment file we send and what the bank sends
back (status reports, booking notifications, statements, returns). Adapters map ISO 20022
to these; nothing above adapters/ sees an ISO element name."""

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from canonical.aba import routing_problem
from canonical.money import CurrencyCode, Money
from canonical.payment import PaymentInstruction


class PayingAccount(BaseModel):
    """Our account at the bank that a payment run pays from. Its bank format says what the
    run's files are: ISO 20022 pain.001 (by IBAN), or NACHA for a US account paying US
    suppliers by ABA routing and account number (adapters/nacha/)."""

    schema_version: Literal[1] = 1
    account_id: str = Field(description="the bank's name for the account, e.g. ACME")
    name: str
    iban: str = Field(description="the IBAN the bank holds the account under (mock-bank names every account by one)")
    bic: str | None = None
    company_code: str
    currency: CurrencyCode
    # How files reach the bank and its answers come back: its HTTP API, or the host-to-host
    # directories it reads from (`drop_dir`) and writes into (`pickup_dir`), on a share finsync mounts.
    channel: Literal["http", "file-drop"] = "http"
    drop_dir: str | None = None
    pickup_dir: str | None = None

    @model_validator(mode="after")
    def _directories_of_a_file_drop(self) -> "PayingAccount":
        if self.channel == "file-drop" and not (self.drop_dir and self.pickup_dir):
            raise ValueError(f"paying account {self.account_id} banks by file drop: it needs drop_dir (where the "
                             "bank reads our files) and pickup_dir (where it writes its answers)")
        return self

    bank_format: Literal["iso20022", "nacha"] = "iso20022"
    routing_number: str | None = Field(default=None, description="nacha: the bank's ABA routing number (the ODFI)")
    account_number: str | None = Field(
        default=None, description="nacha: our account number at the bank; the files' company identification")

    @model_validator(mode="after")
    def _nacha_needs_its_bank(self) -> "PayingAccount":
        if self.bank_format != "nacha":
            return self
        problem = routing_problem(self.routing_number)
        if problem:
            raise ValueError(f"paying account {self.account_id} pays in NACHA files: {problem}")
        number = (self.account_number or "").strip()
        # The company identification of a NACHA batch is 10 characters, and the bank knows
        # the originator by it: the account number has to fit whole.
        if not (number.isascii() and number.isdigit() and 1 <= len(number) <= 10):
            raise ValueError(f"paying account {self.account_id} pays in NACHA files: its account number is "
                             "1 to 10 digits, the company identification the bank knows it by")
        if self.currency != "USD":
            raise ValueError(f"paying account {self.account_id} pays in NACHA files, which carry USD only")
        return self

    run_code: str | None = Field(
        default=None, pattern=r"^[A-Z0-9]$",
        description="one character naming this account in ERP payment-run ids (unique among the paying accounts; "
                    "unset: the account id's first character)")

    def erp_run_code(self) -> str:
        """The account's character in its runs' ERP run ids (workflows/payment_run.run_identity)."""
        return self.run_code or self.account_id[:1].upper()


class PaymentFile(BaseModel):
    """One pain.001: fixed once built (DESIGN invariant 3). Ids are derived from the run."""

    schema_version: Literal[1] = 1
    message_id: str = Field(max_length=35)
    payment_info_id: str = Field(max_length=35)
    created_at: datetime
    execution_date: date
    debtor: PayingAccount
    payments: list[PaymentInstruction] = Field(min_length=1)


class MessageKind(StrEnum):
    """What a bank message is for, whatever its format: a NACHA account's acknowledgement is a
    status report, its return file a return, its BAI2 statement a statement (adapters/bank.py
    message_kind). The values are the ISO 20022 names; the body says its own format."""

    STATUS_REPORT = "pain.002"
    NOTIFICATION = "camt.054"
    STATEMENT = "camt.053"
    INTRADAY_REPORT = "camt.052"
    RETURN = "pacs.004"


class BankMessage(BaseModel):
    """A message as it came out of the bank's mailbox, recorded before it is acted on."""

    schema_version: Literal[1] = 1
    bank_message_id: str = Field(
        description="the download channel's id, qualified by a hash of the body: channel ids may restart")
    kind: MessageKind
    account: str | None = None
    received_at: datetime | None = None
    body: str


class TransactionStatus(BaseModel):
    end_to_end_id: str
    status: Literal["ACCP", "ACSC", "ACSP", "ACWC", "PDNG", "RJCT"]
    reason_code: str | None = None
    reason_text: str | None = None


class PaymentStatusReport(BaseModel):
    """pain.002: a group status for the file and one status per payment."""

    schema_version: Literal[1] = 1
    message_id: str
    original_message_id: str
    original_payment_info_id: str | None = None
    group_status: str | None = None
    group_reason_code: str | None = None
    transactions: list[TransactionStatus] = []


class StatementEntry(BaseModel):
    entry_reference: str | None = Field(default=None, description="the bank's reference (AcctSvcrRef)")
    amount: Money
    currency: CurrencyCode
    direction: Literal["DBIT", "CRDT"]
    booking_date: date | None = None
    value_date: date | None = None
    end_to_end_id: str | None = None
    original_message_id: str | None = None
    payment_info_id: str | None = None
    is_return: bool = False
    return_reason_code: str | None = None
    remittance_reference: str | None = None
    erp_document: str | None = Field(
        default=None, description="our ERP document (its accounting document) this entry pays or returns, found "
        "in the payment register by the EndToEndId we sent; never taken from the bank's text")


class BankStatement(BaseModel):
    """camt.053 (end of day statement) or camt.054 (booking notification)."""

    schema_version: Literal[1] = 1
    message_id: str
    kind: MessageKind
    account_iban: str
    statement_id: str | None = None
    sequence_number: str | None = None
    statement_date: date | None = None
    currency: CurrencyCode
    opening_balance: Money | None = None
    closing_balance: Money | None = None
    entries: list[StatementEntry] = []


class PaymentReturn(BaseModel):
    """pacs.004: the bank sends back a payment it had settled."""

    schema_version: Literal[1] = 1
    message_id: str
    original_message_id: str | None = None
    end_to_end_id: str
    return_id: str | None = None
    amount: Money
    currency: CurrencyCode
    reason_code: str | None = None
    settlement_date: date | None = None


def describe_left_out(statement_key: str, left_out: list[tuple[StatementEntry, str]]) -> list[str]:
    """Debits and returns a statement post to the ERP could not carry, in words (the entries
    left out that are no payment of ours are not reported)."""
    return [f"statement {statement_key}: {entry.direction} {entry.amount} {entry.currency} "
            f"({entry.end_to_end_id or entry.entry_reference}) left out: {reason}"
            for entry, reason in left_out if entry.direction == "DBIT" or entry.is_return]


def attribution_problem(entry: StatementEntry) -> str | None:
    """Why an entry cannot be posted to an ERP as our payment or its return, or None if it can
    (each ERP adapter adds what its own statement format cannot hold)."""
    if entry.amount == 0:
        return "a zero amount is neither money in nor money out"
    if entry.direction == "CRDT" and not entry.is_return:
        return "money received is not a payment of ours or its return; AP does not post it"
    if entry.direction == "DBIT" and entry.is_return:
        return "a debit that returns money we received is not an AP payment"
    if not (entry.remittance_reference or "").strip():
        what = "return" if entry.is_return else "payment"
        return f"the {what} carries no remittance reference, so nothing says which invoice it is for"
    return None
