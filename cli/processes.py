"""Start local servers on loopback and stop exactly what was started, by PID. Used by the
embedded stack and by the tests."""

import os
import random
import signal
import socket
import subprocess
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent  # the venv's scripts: temporal, mock-sap, mock-bank, ...


def free_port() -> int:
    """A loopback port free now, picked below the kernel's ephemeral range: a port the kernel
    hands out (bind to 0) can be taken by any outgoing connection before our server binds it,
    which once failed `make up`'s test with "Address already in use"."""
    low = _ephemeral_low()
    for _ in range(50):
        port = random.randint(10_000, low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # a crowded box: whatever the kernel gives
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32_768
    return max(low, 10_001)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    log_path: Path | None = None
    env: dict[str, str] | None = None
    unset: tuple[str, ...] = ()  # variables of this process's environment the child must not get
    proc: subprocess.Popen | None = field(default=None, init=False)

    def start(self) -> "ManagedProcess":
        # The child gets its own descriptor of the log: ours is closed once it has started.
        with open(self.log_path, "ab") if self.log_path else nullcontext(subprocess.DEVNULL) as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={k: v for k, v in {**os.environ, **(self.env or {})}.items() if k not in self.unset},
                start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop it in order
            )
        return self

    def exited(self) -> bool:
        """Started, and ended since."""
        return self.proc is not None and self.proc.poll() is not None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(url, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready at {url} after {timeout}s")

    def wait_port(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log_path}")
            if port_open(port):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not listening on {port} after {timeout}s")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM this PID only, then SIGKILL if it does not go."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def mock_sap(port: int, db: str = ":memory:", clock: str | None = None, log: Path | None = None) -> ManagedProcess:
    args = [str(BIN / "mock-sap"), "--port", str(port), "--db", db, "-q"]
    if clock:
        args += ["--clock", clock]
    return ManagedProcess("mock-sap", args, log)


# mock-bank serves the bank's real download channel and its camt.052 request under its `/_mock`
# prefix (its routes/mailbox.py and routes/accounts.py). The adapter names no path of its own
# (adapters/bank_channel.py): whoever starts mock-bank configures these, the embedded stack and the tests.
MOCK_BANK_DOWNLOAD_PATH = "/_mock/mailbox"
MOCK_BANK_REPORT_REQUEST_PATH = "/_mock/accounts/{account}/report"
MOCK_BANK_CHANNEL_ENV = {"FINSYNC_BANK_DOWNLOAD_PATH": MOCK_BANK_DOWNLOAD_PATH,
                         "FINSYNC_BANK_REPORT_REQUEST_PATH": MOCK_BANK_REPORT_REQUEST_PATH}


def mock_bank(port: int, db: str = ":memory:", clock: str | None = None, log: Path | None = None, *,
              drop_dir: Path | None = None, pickup_dir: Path | None = None, drop_interval_ms: int | None = None
              ) -> ManagedProcess:
    """`drop_dir`/`pickup_dir`: the bank's host-to-host directories as well as HTTP (both get every
    answer); it reads the drop directory every `drop_interval_ms` (its default: a second)."""
    args = [str(BIN / "mock-bank"), "--port", str(port), "--db", db, "-q"]
    if clock:
        args += ["--clock", clock]
    if drop_dir is not None:
        args += ["--drop-dir", str(drop_dir)]
    if pickup_dir is not None:
        args += ["--pickup-dir", str(pickup_dir)]
    if drop_interval_ms is not None:
        args += ["--drop-interval-ms", str(drop_interval_ms)]
    return ManagedProcess("mock-bank", args, log)
