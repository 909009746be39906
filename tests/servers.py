"""Counterparts as real servers on free loopback ports, stopped by their own PID."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cli.processes import ManagedProcess, free_port


@contextmanager
def running(start: Callable[[int, Path], ManagedProcess], log: Path) -> Iterator[str]:
    """`start(port, log)` builds the process; yields its base URL once /_mock/health answers."""
    port = free_port()
    proc = start(port, log).start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/_mock/health", timeout=20)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()
