"""The bytes of one payment file in the paying account's bank format: a pain.001 for an ISO
20022 account, a NACHA file for a NACHA one (canonical.bank.PayingAccount.bank_format).

A NACHA file's name at the bank is our account, its creation date and time and a file id
modifier; the bank refuses a second file of that name as a duplicate. So each file of an
account and creation date gets a modifier no other file of that day has (36 a day), read from
the bank reference register, where the file's references are written before it is kept: a
build that dies in between leaves its modifier used and builds again with the next one. The
kept file is never rebuilt (activities/payment_run.py), so its bytes stay fixed (architecture
invariant 3)."""

import asyncio

from adapters.bank_references import new_row
from adapters.iso20022.pain001 import PaymentFileInvalid, build_pain001, validate_pain001
from adapters.nacha.builder import MODIFIERS, build_nacha
from adapters.nacha.readers import is_nacha_file
from adapters.payment_registers import PaymentRegisters
from canonical.bank import PaymentFile

__all__ = ["PaymentFileInvalid", "content_type", "file_bytes"]


async def file_bytes(payment_file: PaymentFile, registers: PaymentRegisters) -> bytes:
    """Raises PaymentFileInvalid listing what the bank would refuse; nothing is kept then."""
    if payment_file.debtor.bank_format == "nacha":
        return await asyncio.to_thread(_nacha, payment_file, registers)
    xml = build_pain001(payment_file)
    validate_pain001(xml)
    return xml


def _nacha(payment_file: PaymentFile, registers: PaymentRegisters) -> bytes:
    debtor = payment_file.debtor
    assert debtor.account_number is not None  # a NACHA PayingAccount has one
    day = f"{debtor.account_number}-{payment_file.created_at.strftime('%y%m%d')}"
    used = {name[-1] for name in registers.bank_file_names_of(day)}
    free = [m for m in MODIFIERS if m not in used]
    if not free:
        why = (f"paying account {debtor.account_id} has sent {len(MODIFIERS)} NACHA files created on "
               f"{payment_file.created_at.date()}, all its file id modifiers")
        raise PaymentFileInvalid([why])
    built = build_nacha(payment_file, free[0])
    registers.register_bank_references([
        new_row(e.individual_id, e.end_to_end_id, payment_file.message_id, built.bank_file_name, e.trace_number)
        for e in built.entries])
    return built.content


def content_type(content: bytes) -> str:
    return "text/plain" if is_nacha_file(content[:3].decode("ascii", "replace")) else "application/xml"
