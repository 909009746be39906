"""Record the replay set: one history of every current path into tests/histories/current/.

    .venv/bin/python -m tests.record_histories

Run it when a path is added or a workflow changed on purpose (with `workflow.patched`, or a
new deployment version for a pinned type), then commit what it wrote and moved. It records
everything first; only when every recording succeeded does it move the committed generation out
of current/ (lifecycles to archive/<generation>/, replayed forever; pinned types to
retired/<generation>/, kept) and write the new one (tests/recordings/layout.py). Real servers:
one Temporal dev server, and per recording its own mock-sap and mock-bank (and mock-einvoice),
clocks pinned by the tests' clock profile (tests/clock.py, FINSYNC_TEST_CLOCK), the fixed test
codec key. tests/test_replay.py checks that current/ holds exactly the paths listed here."""

import asyncio
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from cli.processes import BIN
from codec.bank_details import data_converter, load_codec
from identity import keyring as decision_keys
from settings import Settings
from tests.clock import profile
from tests.helpers import TEST_CODEC_KEY, session_issuer
from tests.recordings import layout, lifecycles, payments, pinned
from workflows import search_attributes as sa


@dataclass(frozen=True)
class Recording:
    record: Callable[[Client, Path], Awaitable[dict[str, WorkflowHistory]]]
    paths: dict[str, str]  # file name in current/ (no .json) -> the path it records


RECORDINGS = [
    Recording(lifecycles.record_holds_and_cancel, {
        "lifecycle-hold-corrected": "held for validation (no such bank account), resolved with a corrected "
                                    "invoice, reserved by a run",
        "lifecycle-cancelled-after-post": "posted, then cancelled: payment block, outflow withdrawn",
        "lifecycle-erp-lost-answer": "the ERP post's answer lost (SAP slow), a settle window, found by a lookup",
    }),
    Recording(lifecycles.record_rejection_and_conflict, {
        "lifecycle-approval-rejected": "awaiting approval past its SLA (ApprovalOverdue), rejected: CANCELLED",
        "lifecycle-document-conflict": "a second e-invoice for another amount: held for AP, resolved in words, "
                                       "reserved by a run",
    }),
    Recording(lifecycles.record_operator_inputs, {
        "lifecycle-operator-inputs": "an unknown signal, a bad reason code and a payload of the wrong shape: "
                                     "one visible case",
    }),
    Recording(lifecycles.record_possible_duplicate, {
        "lifecycle-possible-duplicate": "a reference equal to a posted one but for punctuation: held as a "
                                        "PossibleDuplicate, confirmed distinct by AP, posted",
    }),
    Recording(lifecycles.record_erp_outage, {
        "lifecycle-erp-outage": "the ERP refusing posts past its outage SLA: an outage case opened and closed "
                                "by finsync",
    }),
    Recording(payments.record_paid_cycle, {
        "lifecycle-approval-paid": "two approvers above the threshold, then paid, settled, cleared: COMPLETED",
        "lifecycle-supplier-answers": "an e-invoice receipt, held and resolved, paid: answers AB, UQ, AP, PD",
        "lifecycle-rejected-remediated": "rejected AC04 (account closed), remediated to a new account, paid on "
                                         "attempt 2",
        "payment-run-released": "a PaymentRun above its release limit, released by a non-approver, two files",
        "bank-inbox": "the BankInbox reading pain.002, camt.054 and camt.053, handing statements to StatementPost",
        "statement-post": "a StatementPost: a camt.053 posted to the ERP once, its lifecycles told",
    }),
    Recording(payments.record_return, {
        "lifecycle-returned": "settled, returned by the bank (MD07), remediated, paid again once",
    }),
    Recording(payments.record_hand_reports, {
        "lifecycle-hand-report-unconfirmed": "a rejection reported by hand that the bank then booked: paid once",
        "lifecycle-hand-report-confirmed": "a rejection reported by hand that the bank confirmed: remediated to "
                                           "a new account",
    }),
    Recording(payments.record_paid_twice, {
        "lifecycle-paid-twice": "AM04 remediated, then the first attempt booked after all: a critical PaidTwice case",
    }),
    Recording(pinned.record_reconciliation, {
        "reconciliation": "a Reconciliation finding four kinds of drift and healing the safe one",
    }),
    Recording(pinned.record_inbox_continued, {
        "bank-inbox-continued": "a BankInbox run ending in continue-as-new after its polls",
    }),
    Recording(pinned.record_vendor_sync, {
        "vendor-master-sync": "a VendorMasterSync finding a changed bank account and telling the lifecycle",
        "lifecycle-bank-change-confirmed": "held for a changed bank account, confirmed by another person (four eyes)",
    }),
    Recording(lifecycles.record_continued_as_new, {
        "lifecycle-continued-as-new": "a SCHEDULED lifecycle's first run, ending in continue-as-new",
        "lifecycle-resumed-after-continue": "a held lifecycle's run after continue-as-new: resolved, scheduled, "
                                            "reserved",
    }),
]
PATHS = {name: path for recording in RECORDINGS for name, path in recording.paths.items()}


async def record_all(tmp: Path) -> dict[str, WorkflowHistory]:
    settings = Settings(codec_key=TEST_CODEC_KEY)
    recorded: dict[str, WorkflowHistory] = {}
    async with await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
                                                     data_converter=data_converter(load_codec(settings)),
                                                     search_attributes=sa.ALL, dev_server_log_level="error") as env:
        for recording in RECORDINGS:
            started = time.monotonic()
            histories = await recording.record(env.client, tmp)
            assert set(histories) == set(recording.paths), (recording.record.__name__, sorted(histories))
            recorded.update(histories)
            print(f"{recording.record.__name__}: {time.monotonic() - started:.0f} s", flush=True)
    return recorded


async def main() -> None:
    # The recordings provoke failures on purpose (a 503, a missing account, signals that do not
    # apply); the worker's warnings about them would bury this script's own lines.
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    decision_keys.install(session_issuer().keyring())  # the recordings' decisions are signed by it
    print("clock profile", profile().describe(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        recorded = await record_all(Path(tmp))
    for line in layout.rotate():
        print(line)
    for name in sorted(recorded):
        print(f"recorded current/{name}.json: {layout.write(name, recorded[name])} events")
    print(f"{len(recorded)} histories in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main())
