"""The bank reference register: what a bank carries back for our payments when it can not carry
our own ids, and the translation of its documents into our ids before anyone acts on them.

A NACHA entry holds 15 characters where our EndToEndId has up to 35, and NACHA has no message
id: a NACHA account's bank names a payment by the entry's individual identification number
(and trace number) and a file by its origin, creation date and time and file id modifier. The
run registers both when it builds the file (activities/payment_files.py), so every answer
(acknowledgement, camt.054, return file, BAI2) is matched through the payment register by our
EndToEndId *and* MsgId like any pain.002 (architecture invariant 4)."""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select

from canonical.bank import BankStatement, PaymentReturn, PaymentStatusReport

BankDocument = PaymentStatusReport | BankStatement | PaymentReturn
# Our EndToEndIds always hold a '/' (canonical.payment.end_to_end_id); a bank reference never.
_REFERENCE = re.compile(r"^[A-Z2-7]{15}$")


class BankReferenceRow(SQLModel, table=True):
    __tablename__ = "bank_reference"
    bank_reference: str = Field(primary_key=True, description="what the bank names the payment by")
    end_to_end_id: str = Field(index=True)
    message_id: str = Field(description="our payment file's MsgId")
    bank_file_name: str = Field(index=True, description="what the bank names that file by")
    trace_number: str | None = None
    registered_at: datetime


class BankReferenceRegister:
    engine: Engine

    def register_bank_references(self, rows: Sequence[BankReferenceRow]) -> None:
        """Before the file is kept: a build that died before keeping its file is built again and
        its references written again, naming the file that was kept (one payment attempt is in
        one kept file)."""
        with Session(self.engine) as session:
            keys = [r.bank_reference for r in rows]
            session.execute(delete(BankReferenceRow).where(col(BankReferenceRow.bank_reference).in_(keys)))
            session.add_all(rows)
            session.commit()

    def bank_file_names_of(self, prefix: str) -> set[str]:
        """The names of files registered under a name prefix (an account's files of one day)."""
        with Session(self.engine) as session:
            found = session.exec(select(BankReferenceRow.bank_file_name)
                                 .where(col(BankReferenceRow.bank_file_name).startswith(prefix)).distinct())
            return set(found)

    def bank_references(self, references: Iterable[str]) -> dict[str, BankReferenceRow]:
        wanted = sorted({r for r in references if r and _REFERENCE.match(r)})
        found: dict[str, BankReferenceRow] = {}
        if not wanted:
            return found
        with Session(self.engine) as session:
            for start in range(0, len(wanted), 500):  # below SQLite's bound-parameter limit
                rows = session.exec(select(BankReferenceRow).where(
                    col(BankReferenceRow.bank_reference).in_(wanted[start:start + 500])))
                found.update((row.bank_reference, row) for row in rows)
        return found

    def files_named(self, names: Iterable[str]) -> dict[str, str]:
        """Our MsgId of each file the bank names so."""
        wanted = sorted({n for n in names if n})
        if not wanted:
            return {}
        with Session(self.engine) as session:
            rows = session.exec(select(BankReferenceRow.bank_file_name, BankReferenceRow.message_id)
                                .where(col(BankReferenceRow.bank_file_name).in_(wanted)).distinct())
            return dict(rows.all())


def in_our_terms(documents: Sequence[BankDocument], register: BankReferenceRegister) -> list[BankDocument]:
    """The documents with every payment and file the bank named by a registered reference named
    by our EndToEndId and MsgId instead; everything else as it was."""
    ids = [e.end_to_end_id for d in documents for e in _entries(d)]
    ids += [tx.end_to_end_id for d in documents if isinstance(d, PaymentStatusReport) for tx in d.transactions]
    ids += [d.end_to_end_id for d in documents if isinstance(d, PaymentReturn)]
    references = register.bank_references(i for i in ids if i)
    if not references and not any(isinstance(d, PaymentStatusReport) for d in documents):
        return list(documents)
    files = register.files_named(d.original_message_id for d in documents
                                 if isinstance(d, PaymentStatusReport) and d.original_message_id)
    return [_translated(d, references, files) for d in documents]


def _entries(document: BankDocument):
    return document.entries if isinstance(document, BankStatement) else []


def _translated(document: BankDocument, refs: dict[str, BankReferenceRow], files: dict[str, str]) -> BankDocument:
    if isinstance(document, PaymentStatusReport):
        txs = [tx.model_copy(update={"end_to_end_id": refs[tx.end_to_end_id].end_to_end_id})
               if tx.end_to_end_id in refs else tx for tx in document.transactions]
        original = files.get(document.original_message_id, document.original_message_id)
        return document.model_copy(update={"transactions": txs, "original_message_id": original})
    if isinstance(document, PaymentReturn):
        row = refs.get(document.end_to_end_id)
        if row is None:
            return document
        return document.model_copy(update={"end_to_end_id": row.end_to_end_id, "original_message_id": row.message_id})
    entries = []
    for entry in document.entries:
        row = refs.get(entry.end_to_end_id or "")
        if row is not None and entry.original_message_id in (None, row.bank_file_name, row.message_id):
            entry = entry.model_copy(update={"end_to_end_id": row.end_to_end_id, "original_message_id": row.message_id})
        entries.append(entry)
    return document.model_copy(update={"entries": entries})


def new_row(bank_reference: str, end_to_end_id: str, message_id: str, bank_file_name: str,
            trace_number: str | None) -> BankReferenceRow:
    return BankReferenceRow(bank_reference=bank_reference, end_to_end_id=end_to_end_id, message_id=message_id,
                            bank_file_name=bank_file_name, trace_number=trace_number, registered_at=datetime.now(UTC))
