"""A worker process that dies while its bank inbox picks up the bank's answers from a file-drop
account's pickup directory (tests/test_file_drop_channel.py):

    python -m tests.file_drop_crash <treasury db url> <bank url> <paying account JSON> <point>

It runs the inbox activity `collect_bank_messages` as the worker does, and at `point` ends the
process at once (os._exit: no cleanup, no finally, as a kill): `before-record`, after the files
were read and before anything was recorded; `before-filing-away`, after the record and before
the files were moved to done/. Exits CRASHED there, 0 if it never got there."""

import asyncio
import os
import sys

from activities.bank_inbox import BankInboxActivities
from adapters.bank import BankClient
from adapters.bank_file_drop import BankFileDrops, PickupDirectory
from adapters.lifecycle_outbox import LifecycleOutbox
from adapters.payment_registers import PaymentRegisters
from adapters.sap import SapClient
from adapters.treasury_store import TreasuryStore
from canonical.bank import PayingAccount

CRASHED = 17


def _die(*_: object) -> int:
    os._exit(CRASHED)


async def main(store_url: str, bank_url: str, account_json: str, point: str) -> None:
    account = PayingAccount.model_validate_json(account_json)
    if point == "before-record":
        PaymentRegisters.record_bank_messages = _die  # type: ignore[method-assign]
    elif point == "before-filing-away":
        PickupDirectory.file_away = _die  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown point {point!r}")
    store = TreasuryStore(store_url)
    async with BankClient(bank_url) as bank, SapClient("http://127.0.0.1:9") as sap:
        inbox = BankInboxActivities(bank, PaymentRegisters(store.engine), sap, LifecycleOutbox(store.engine),
                                    file_drops=BankFileDrops({account.account_id: account}))
        await inbox.collect_bank_messages()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
    sys.exit(0)
