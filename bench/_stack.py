"""What a benchmark runs on, all its own and stopped at the end: a Temporal dev server (in
memory, or with sqlite=True on a WAL/synchronous=off SQLite file, as the embedded stack runs
it), a mock-sap and, if asked, a mock-bank (`--db :memory:`), both with their clocks at the
test clock profile's moment (tests/clock.py: a Wednesday 09:00 in the coming week unless
FINSYNC_TEST_CLOCK says otherwise, so a run means the same on any day) and stopped by their
PIDs, in a temp directory; and the CPU seconds those processes use. Imported by the bench
scripts (bench/ is sys.path[0] when they run, and they put the project root on sys.path)."""

import os
import sys
import time

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_stack.py: a helper of the bench scripts, nothing to measure")
    sys.exit(0)

import argparse
import base64
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from canonical.controls import ControlPolicy
from cli.processes import BIN, MOCK_BANK_DOWNLOAD_PATH, MOCK_BANK_REPORT_REQUEST_PATH, free_port, mock_bank, mock_sap
from codec.bank_details import data_converter, load_codec
from settings import Settings
from tests.clock import profile
from workflows import search_attributes as sa

NO_BANK = "http://127.0.0.1:9"  # discard port: nothing listens (for a run that never pays)


class CpuMeter:
    """CPU seconds of this process (client + worker, all threads) and of the given PIDs."""

    def __init__(self, pids: dict[str, int]):
        self._pids = pids
        self._tick = os.sysconf("SC_CLK_TCK")

    def _proc(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime

    def sample(self) -> dict[str, float]:
        return {"bench process": time.process_time(), **{name: self._proc(pid) for name, pid in self._pids.items()}}

    def since(self, before: dict[str, float]) -> dict[str, float]:
        """CPU seconds per process since `before` (an earlier sample)."""
        return {k: v - before[k] for k, v in self.sample().items()}


def dev_server_pid(port: int) -> int | None:
    """The SDK starts the dev server as our child and exposes no PID: find it in /proc (read only)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == me and str(port).encode() in cmd:
            return int(entry.name)
    return None


class Stack:
    """Free ports, a temp directory and the processes to run there. `settings()` gives the
    run's Settings; `async with stack.running(settings) as client` starts the mocks and the
    dev server and stops all of them (the mocks by PID) and removes the directory on the way out."""

    def __init__(self, *, sqlite: bool, bank: bool):
        self.sqlite = sqlite
        self.sap_port = free_port()
        self.bank_port = free_port() if bank else None
        self.temporal_port = free_port()
        self.sap_url = f"http://127.0.0.1:{self.sap_port}"
        self.bank_url = f"http://127.0.0.1:{self.bank_port}" if bank else NO_BANK
        self._tmp = tempfile.TemporaryDirectory(prefix="finsync-bench-")
        self.dir = Path(self._tmp.name)
        self.clock = profile().clock_arg
        self.sap = mock_sap(self.sap_port, clock=self.clock, log=self.dir / "mock-sap.log")
        self.bank = mock_bank(self.bank_port, clock=self.clock, log=self.dir / "mock-bank.log") if bank else None
        self.server_pid: int | None = None
        self.boot_seconds = 0.0  # the dev server's start

    @property
    def server_kind(self) -> str:
        return "SQLite file, WAL, synchronous=off" if self.sqlite else "in memory"

    def settings(self, **extra) -> Settings:
        queue = f"bench-{uuid.uuid4()}"
        return Settings(
            # A fresh key: nothing outside this run reads these histories.
            codec_key=base64.b64encode(AESGCM.generate_key(bit_length=256)).decode(),
            task_queue=queue, payments_task_queue=f"{queue}-payments", back_office_task_queue=f"{queue}-back-office",
            sap_url=self.sap_url,
            bank_url=self.bank_url,
            bank_download_path=MOCK_BANK_DOWNLOAD_PATH, bank_report_request_path=MOCK_BANK_REPORT_REQUEST_PATH,
            # Every bench invoice has one supplier's amount and date (bench/_invoices.py), so the
            # same-date rule would hold them all as possible duplicates; the reference rule stays.
            near_duplicate_check="reference",
            # A run of N bench invoices is far above the default release_above: the bench measures
            # throughput, not a person's release (tests/test_payment_run_release.py covers that).
            controls=ControlPolicy(release_above=Decimal("1000000000")),
            lifecycle_bank_status_lists=True,  # as the embedded stack runs (cli/stack.py): one build
            **extra,
        )

    def _server_args(self) -> dict:
        if not self.sqlite:
            return {}
        # The embedded stack's setting: a file, WAL, and no fsync per commit.
        return dict(
            dev_server_database_filename=str(self.dir / "temporal.db"),
            dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off"],
        )

    @asynccontextmanager
    async def running(self, settings: Settings) -> AsyncIterator[Client]:
        mocks = [(self.sap, self.sap_url)] + ([(self.bank, self.bank_url)] if self.bank else [])
        env: WorkflowEnvironment | None = None
        try:
            for proc, _ in mocks:
                proc.start()
            for proc, url in mocks:
                proc.wait_http(f"{url}/_mock/health")
            booted = time.perf_counter()
            env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(BIN / "temporal"),
                data_converter=data_converter(load_codec(settings)),
                search_attributes=sa.ALL,
                port=self.temporal_port,
                dev_server_log_level="error",
                **self._server_args(),
            )
            self.boot_seconds = time.perf_counter() - booted
            self.server_pid = dev_server_pid(self.temporal_port)
            yield env.client
        finally:
            if env is not None:
                await env.shutdown()
            for proc, _ in reversed(mocks):
                proc.stop()  # by its PID
            self._tmp.cleanup()

    def cpu_meter(self) -> CpuMeter:
        pids = {"dev server": self.server_pid or -1, "mock-sap": self.sap.pid}
        if self.bank is not None:
            pids["mock-bank"] = self.bank.pid
        return CpuMeter(pids)


def arguments(doc: str, n: int, n_help: str) -> argparse.ArgumentParser:
    """A script's command line, with what every script takes: -n and --sqlite."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("-n", type=int, default=n, help=f"{n_help} (default {n})")
    parser.add_argument("--sqlite", action="store_true", help="dev server on a SQLite file (WAL, synchronous=off)")
    return parser


def finish(failures: list[str], note: str = "") -> int:
    """Prints the load average after the run and each failure as `FAIL …`; the exit code."""
    print(f"load average {os.getloadavg()[0]:.2f} after{note}")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0
