"""Banking through host-to-host directories instead of HTTP: a paying account whose `channel`
is "file-drop" hands its pain.001 to the bank by writing it into the bank's drop directory and
picks the bank's answers (pain.002, camt.05x, pacs.004) up from its pickup directory.

Sending: the file is written under a temporary name the bank never reads (a dotfile ending in
.tmp), flushed to disk, then linked to its final name, which never replaces a file: the bank
sees the whole file or none. The name is the file's MsgId, fixed when the run built it, so a
resend after a crash finds the file (still waiting, claimed, or filed by the bank under
processed/ or failed/) and writes nothing (architecture invariants 2 and 3). A bank that
removes what it read gets the same bytes again and refuses the MsgId as a duplicate.

Receiving (architecture invariant 4): `pick_up` reads every file, records it in the treasury
store, and only then moves it into done/. A crash before the record leaves the file to be read
again; a crash after it leaves a file whose message the store already holds, and recording is
idempotent by the message's id: the file's channel id (mock-bank names its files
`<type>-<account>-<id>.<ext>` with the id of its HTTP mailbox, so both channels' copies of one
message get one id) qualified by the content's hash, as for the HTTP download
(adapters/bank.py message_identity). So each file is acted on once whatever crashes when.
"""

import asyncio
import errno
import io
import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from adapters.bank import SubmissionReceipt, file_message_id, message_identity, message_kind
from adapters.bank_errors import BankTransientError
from canonical.bank import BankMessage, PayingAccount

log = logging.getLogger(__name__)

# Where the bank files what it has read (mock-bank: processed/ and failed/, beside a claimed
# `<name>.processing` while it reads); a name found there was delivered.
FILED_BY_THE_BANK = ("processed", "failed")
CLAIMED_SUFFIX = ".processing"
# Where a picked-up file goes once its message is recorded, and where one finsync does not read
# (a kind it has no reader for, or not text) goes so a person finds it.
DONE = "done"
NOT_READ = "not-read"
# Names a writer uses while a file is incomplete: never read.
_INCOMPLETE = (".tmp", ".part", ".filepart", ".writing", ".swp", CLAIMED_SUFFIX)
_MOCK_NAME = re.compile(r"^(?P<type>[a-z0-9]+(?:\.[a-z0-9]+)*)-(?P<account>.+)-(?P<id>\d+)\.[a-z0-9]+$")
_ISO_NAMESPACE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:(?P<type>[a-z]+\.\d{3}\.\d{3}\.\d{2})$")
_LINK_UNSUPPORTED = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


def file_name(file_key: str) -> str:
    """The payment file's name in the drop directory: its key, in characters every file system keeps."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", file_key) + ".xml"


class FileDrop:
    """The bank's drop directory of one or more of our accounts."""

    def __init__(self, drop_dir: Path) -> None:
        self.drop_dir = drop_dir

    async def submit_payment_file(self, file_key: str, xml: bytes) -> SubmissionReceipt:
        """Deliver once: duplicate=True when the file was delivered before. The bank's decision
        comes in its pain.002 through the pickup directory, never here."""
        return await asyncio.to_thread(self._deliver, file_name(file_key), bytes(xml),
                                       file_message_id(xml) or file_key)

    def delivered(self, name: str) -> bool:
        places = [self.drop_dir / name, self.drop_dir / (name + CLAIMED_SUFFIX)]
        return any(p.exists() for p in places + [self.drop_dir / d / name for d in FILED_BY_THE_BANK])

    def _deliver(self, name: str, xml: bytes, message_id: str) -> SubmissionReceipt:
        if not self.drop_dir.is_dir():  # the share is not mounted: an outage, retried
            raise BankTransientError(f"the bank's drop directory {self.drop_dir} is not there")
        try:
            if self.delivered(name):
                log.info("payment file %s is already in the bank's drop directory", name)
                return SubmissionReceipt(message_id=message_id, duplicate=True)
            temporary = self.drop_dir / f".{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
            with open(temporary, "wb") as handle:
                handle.write(xml)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                duplicate = not _publish(temporary, self.drop_dir / name)
            finally:
                temporary.unlink(missing_ok=True)
            _sync_directory(self.drop_dir)
        except OSError as e:  # full, unwritable, gone: the same bytes go when it is fixed
            raise BankTransientError(f"payment file {name} not written to {self.drop_dir}: {e}") from e
        return SubmissionReceipt(message_id=message_id, duplicate=duplicate)


def _publish(temporary: Path, final: Path) -> bool:
    """Give the complete file its final name; False if another writer got there first."""
    try:
        os.link(temporary, final)  # unlike a rename, never replaces a file already there
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in _LINK_UNSUPPORTED:
            raise
    # A share without hard links: rename, having checked the name is free (a race between two
    # writers then leaves the same bytes under the name, which the bank reads once or as DUPL).
    if final.exists():
        return False
    os.replace(temporary, final)
    return True


def _sync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # a platform or share that cannot open a directory: the file's own fsync stands
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True)
class PickedUpFile:
    path: Path
    message: BankMessage | None  # None: not a message finsync reads


class PickupDirectory:
    """The bank's pickup directory: what it wrote for us, and done/ for what we recorded."""

    def __init__(self, pickup_dir: Path) -> None:
        self.pickup_dir = pickup_dir

    def read(self) -> list[PickedUpFile]:
        if not self.pickup_dir.is_dir():
            raise BankTransientError(f"the bank's pickup directory {self.pickup_dir} is not there")
        picked = []
        for path in sorted(self.pickup_dir.iterdir(), key=_oldest_first):
            if path.name.startswith(".") or path.name.lower().endswith(_INCOMPLETE) or not path.is_file():
                continue
            try:
                content, modified = path.read_bytes(), path.stat().st_mtime
            except FileNotFoundError:  # another worker filed it away meanwhile
                continue
            picked.append(PickedUpFile(path, _message(path.name, content, modified)))
        return picked

    def file_away(self, picked: PickedUpFile) -> None:
        folder = self.pickup_dir / (DONE if picked.message is not None else NOT_READ)
        folder.mkdir(exist_ok=True)
        target = folder / picked.path.name
        try:
            if target.exists() and target.read_bytes() == picked.path.read_bytes():
                picked.path.unlink()  # moved before, and the bank wrote it again: one copy is kept
                return
            os.replace(picked.path, _free_name(target))
        except FileNotFoundError:
            pass  # another worker filed it away first


def pick_up(directory: PickupDirectory, record: Callable[[list[BankMessage]], int]) -> int:
    """Read, record (before anything acts on them), then file away; how many were new."""
    picked = directory.read()
    messages = [p.message for p in picked if p.message is not None]
    new = record(messages) if messages else 0
    for file in picked:
        if file.message is None:
            log.warning("bank file %s in %s is not a message finsync reads; moved to %s/", file.path.name,
                        directory.pickup_dir, NOT_READ)
        directory.file_away(file)
    return new


class BankFileDrops:
    """Our paying accounts that bank through directories, from configuration."""

    def __init__(self, accounts: Mapping[str, PayingAccount]) -> None:
        dropping = {k: a for k, a in accounts.items() if a.channel == "file-drop"}
        self._drops = {k: FileDrop(Path(a.drop_dir or "")) for k, a in dropping.items()}
        pickups = {str(Path(a.pickup_dir or "").resolve()) for a in dropping.values()}
        self._pickups = [PickupDirectory(Path(p)) for p in sorted(pickups)]
        # With none on HTTP there is no HTTP download to read; with no accounts at all, the bank's is.
        self.reads_http = not accounts or len(dropping) < len(accounts)

    @property
    def accounts(self) -> frozenset[str]:
        return frozenset(self._drops)

    def drop_for(self, account_id: str) -> FileDrop | None:
        return self._drops.get(account_id)

    def pick_up(self, record: Callable[[list[BankMessage]], int]) -> int:
        return sum(pick_up(directory, record) for directory in self._pickups)


def _message(name: str, content: bytes, modified: float) -> BankMessage | None:
    try:
        body = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    mock = _MOCK_NAME.match(name)
    kind = message_kind(_iso_type(content) or (mock["type"] if mock else ""))
    if kind is None:
        return None
    return BankMessage(bank_message_id=message_identity(mock["id"] if mock else name, body), kind=kind,
                       account=mock["account"] if mock else None,
                       received_at=datetime.fromtimestamp(modified, UTC), body=body)


def _iso_type(content: bytes) -> str | None:
    """e.g. "camt.054.001.08", from the document's namespace (a bank's own names say nothing)."""
    try:
        for _, element in etree.iterparse(io.BytesIO(content), events=("start",), resolve_entities=False,
                                          no_network=True):
            found = _ISO_NAMESPACE.match(etree.QName(element).namespace or "")
            return found["type"] if found else None
    except etree.XMLSyntaxError:
        return None
    return None


def _oldest_first(path: Path) -> tuple[float, str]:
    try:
        return path.stat().st_mtime, path.name
    except OSError:
        return 0.0, path.name


def _free_name(path: Path) -> Path:
    candidate, counter = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{counter}{path.suffix}")
        counter += 1
    return candidate
