"""The chaos harness's stack: processes it can kill and restart. A Temporal dev server on its
own SQLite file (restarted on the same file, as an operator would), mock-sap (slow posts take
longer than the worker's SAP timeout, so their answers are lost) and mock-bank, and the
worker as a subprocess (`python worker.py`), SIGKILLed by its PID. Everything in a temp
directory, stopped by PID at the end."""

import sys

if __name__ == "__main__":  # `make bench` runs every bench/*.py; this one only serves the scripts
    print("bench/_chaos_stack.py: a helper of bench/chaos.py, nothing to measure")
    sys.exit(0)

import base64
import signal
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.client import Client

from canonical.controls import ControlPolicy
from cli.processes import (
    BIN,
    MOCK_BANK_CHANNEL_ENV,
    MOCK_BANK_DOWNLOAD_PATH,
    MOCK_BANK_REPORT_REQUEST_PATH,
    ManagedProcess,
    free_port,
    mock_bank,
)
from codec.bank_details import data_converter, load_codec
from settings import Settings
from tests.clock import profile
from workflows import search_attributes as sa

ROOT = Path(__file__).resolve().parent.parent
SLOW_MS = 40_000  # longer than the worker's SAP timeout below: the POST lands, its answer is lost
SAP_TIMEOUT = 20


class ChaosStack:
    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="finsync-chaos-")
        self.dir = Path(self._tmp.name)
        self.ports = {name: free_port() for name in ("temporal", "sap", "bank")}
        self.clock = profile().clock_arg  # a business-day morning in the coming week
        self.key = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
        self.task_queue = f"chaos-{uuid.uuid4().hex[:8]}"
        self.sap_url = f"http://127.0.0.1:{self.ports['sap']}"
        self.bank_url = f"http://127.0.0.1:{self.ports['bank']}"
        self.address = f"127.0.0.1:{self.ports['temporal']}"
        self.temporal: ManagedProcess | None = None
        self.worker: ManagedProcess | None = None
        self.sap = ManagedProcess("mock-sap", [str(BIN / "mock-sap"), "--port", str(self.ports["sap"]), "--db",
                                               str(self.dir / "sap.db"), "--clock", self.clock, "--slow-ms",
                                               str(SLOW_MS), "-q"], self.dir / "mock-sap.log")
        self.bank = mock_bank(self.ports["bank"], db=str(self.dir / "bank.db"), clock=self.clock,
                              log=self.dir / "mock-bank.log")
        self.worker_starts = 0

    @property
    def identity_dir(self) -> Path:
        """The worker's local issuer: it trusts its keys, bench/chaos.py signs the run request with it."""
        return self.dir / "identity"

    def settings(self) -> Settings:
        # Every chaos invoice has one amount and date: the same-date duplicate rule would hold them all.
        return Settings(codec_key=self.key, task_queue=self.task_queue, sap_url=self.sap_url, bank_url=self.bank_url,
                        bank_download_path=MOCK_BANK_DOWNLOAD_PATH,
                        bank_report_request_path=MOCK_BANK_REPORT_REQUEST_PATH,
                        treasury_db_url=f"sqlite:///{self.dir / 'treasury.db'}", sap_timeout_seconds=SAP_TIMEOUT,
                        near_duplicate_check="reference",
                        # N invoices in one run are above the default release_above; chaos is not about release
                        controls=ControlPolicy(release_above=Decimal("1000000000")))

    def start_mocks(self) -> None:
        for proc, url in ((self.sap, self.sap_url), (self.bank, self.bank_url)):
            proc.start()
            proc.wait_http(f"{url}/_mock/health")

    def start_temporal(self) -> None:
        args = [str(BIN / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                "--port", str(self.ports["temporal"]), "--db-filename", str(self.dir / "temporal.db"),
                "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off", "--log-level", "error"]
        for flag in sa.cli_flags():
            args += ["--search-attribute", flag]
        self.temporal = ManagedProcess("temporal", args, self.dir / "temporal.log").start()
        self.temporal.wait_port(self.ports["temporal"], timeout=60)

    def restart_temporal(self) -> None:
        """Down hard (SIGKILL) and up again on the same SQLite file."""
        self.temporal.proc.send_signal(signal.SIGKILL)
        self.temporal.proc.wait(10)
        self.start_temporal()

    def start_worker(self) -> None:
        s = self.settings()
        # Every kind of work on the bench's one queue: the run and the inbox are started there.
        env = {"TEMPORAL_ADDRESS": self.address, "FINSYNC_TASK_QUEUE": s.task_queue,
               "FINSYNC_PAYMENTS_TASK_QUEUE": s.task_queue, "FINSYNC_BACK_OFFICE_TASK_QUEUE": s.task_queue,
               "FINSYNC_SAP_URL": s.sap_url,
               "FINSYNC_BANK_URL": s.bank_url, **MOCK_BANK_CHANNEL_ENV, "FINSYNC_TREASURY_DB_URL": s.treasury_db_url,
               "FINSYNC_CODEC_KEY": self.key,
               "FINSYNC_SAP_TIMEOUT_SECONDS": str(SAP_TIMEOUT), "FINSYNC_EINVOICE_URL": "http://127.0.0.1:9",
               "FINSYNC_NEAR_DUPLICATE_CHECK": s.near_duplicate_check,
               "FINSYNC_CONTROLS": s.controls.model_dump_json(),
               "PYTHONUNBUFFERED": "1", "FINSYNC_IDENTITY_DEV_DIR": str(self.identity_dir)}
        self.worker = ManagedProcess("worker", [sys.executable, str(ROOT / "worker.py")], self.dir / "worker.log", env)
        self.worker.start()
        self.worker_starts += 1

    def kill_worker(self) -> None:
        """SIGKILL: no graceful shutdown, activities die mid-call."""
        self.worker.proc.send_signal(signal.SIGKILL)
        self.worker.proc.wait(10)

    async def client(self) -> Client:
        return await Client.connect(self.address, data_converter=data_converter(load_codec(self.settings())))

    def stop(self) -> None:
        for proc in (self.worker, self.temporal, self.bank, self.sap):
            if proc is not None:
                proc.stop()  # by its PID
        self._tmp.cleanup()
