"""A mock-bank of a test's own with its host-to-host directories (`--drop-dir`, `--pickup-dir`),
for the file-drop channel (adapters/bank_file_drop.py). The session's bank_server has none: a
test that needs them starts this one."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from canonical.bank import PayingAccount
from cli.processes import mock_bank
from settings import DEFAULT_PAYING_ACCOUNTS
from tests.servers import running


@dataclass(frozen=True)
class DropBank:
    url: str
    drop_dir: Path
    pickup_dir: Path

    def account(self, account_id: str = "ACME") -> PayingAccount:
        """mock-bank's seed account, banking through these directories."""
        return DEFAULT_PAYING_ACCOUNTS[account_id].model_copy(update={
            "channel": "file-drop", "drop_dir": str(self.drop_dir), "pickup_dir": str(self.pickup_dir)})

    def waiting(self) -> list[str]:
        """What the bank wrote and nobody has picked up yet. Not a file it is still writing: mock-bank
        writes `<name>.tmp` and renames it, and a test that took the temp name raced the rename."""
        return sorted(p.name for p in self.pickup_dir.iterdir() if p.is_file() and not p.name.endswith(".tmp"))

    def done(self) -> list[str]:
        folder = self.pickup_dir / "done"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    def wait_for_pickup(self, prefix: str, timeout: float = 20.0) -> list[str]:
        """Until the bank has written a file whose name starts with `prefix` (a message type)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := [n for n in self.waiting() if n.startswith(prefix)]:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no {prefix} file in {self.pickup_dir}: {self.waiting()}")


@contextmanager
def drop_bank(root: Path, clock: str) -> Iterator[DropBank]:
    """mock-bank reading `root/in` every 100 ms and writing everything it releases into `root/out`."""
    drop_dir, pickup_dir = root / "in", root / "out"
    root.mkdir(parents=True, exist_ok=True)
    start = lambda port, log: mock_bank(port, clock=clock, log=log, drop_dir=drop_dir,  # noqa: E731
                                        pickup_dir=pickup_dir, drop_interval_ms=100)
    with running(start, root / "mock-bank.log") as url:
        yield DropBank(url, drop_dir, pickup_dir)
