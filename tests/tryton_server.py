"""A real Tryton server for the tests, on a seeded SQLite database.

Creating and seeding the database takes ~45 s of one core (trytond-admin loads every module's
data), so the seeded file is cached, keyed by the installed Tryton versions, the seed script and
the fiscal years; each session serves a fresh copy of it. Later sessions start in ~2 s.
"""

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from cli import tryton_seed, tryton_stack
from cli.processes import free_port

PASSWORD = "finsync-test"  # loopback only, in a database the session throws away
USER = "admin"
PACKAGES = ("trytond", "trytond-account", "trytond-account-invoice", "trytond-account-payment",
            "trytond-account-statement", "trytond-bank", "trytond-party", "trytond-company", "trytond-currency")


@dataclass(frozen=True)
class TrytonServer:
    url: str
    database: str
    user: str
    password: str
    startup_seconds: float  # this session's start (a copy of the cached database, then trytond)


def cache_key(years: list[int]) -> str:
    versions = ",".join(f"{p}={metadata.version(p)}" for p in PACKAGES)
    seed = Path(tryton_seed.__file__).read_bytes() + Path(tryton_stack.__file__).read_bytes()
    return hashlib.sha256(versions.encode() + seed + repr(years).encode() + PASSWORD.encode()).hexdigest()[:16]


def seeded_database(cache_dir: Path, years: list[int]) -> Path:
    """The cached, seeded database file; built (into a scratch directory, then moved in whole)
    when this key has none yet."""
    cached = cache_dir / f"tryton-{cache_key(years)}.sqlite"
    if cached.exists():
        return cached
    # Parallel test processes (pytest-xdist) share the cache: one builds, the others wait for it.
    with open(cache_dir / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not cached.exists():
            _build(cache_dir, cached, years)
    return cached


def _build(cache_dir: Path, cached: Path, years: list[int]) -> None:
    scratch = cache_dir / f"build-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    started = time.monotonic()
    tryton_stack.prepare(scratch, free_port(), PASSWORD, scratch / "build.log", years)
    tryton_stack.copy_database(tryton_stack.database_file(scratch), cached)
    print(f"\nTryton database created and seeded in {time.monotonic() - started:.0f}s (cached at {cached})")
    shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def running_tryton(directory: Path, cache_dir: Path, years: list[int]) -> Iterator[TrytonServer]:
    """trytond on a copy of the seeded database; stopped by its PID when the block ends."""
    source = seeded_database(cache_dir, years)
    started = time.monotonic()
    port = free_port()
    config = tryton_stack.write_config(directory, port)
    tryton_stack.copy_database(source, tryton_stack.database_file(directory))
    proc = tryton_stack.tryton_process(config, directory / "trytond.log").start()
    try:
        proc.wait_port(port, timeout=60)
        yield TrytonServer(f"http://127.0.0.1:{port}", tryton_stack.DATABASE, USER, PASSWORD,
                           time.monotonic() - started)
    finally:
        proc.stop()
