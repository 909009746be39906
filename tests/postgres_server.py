"""A real PostgreSQL server for the tests: a fresh cluster (initdb) in a temporary directory,
`postgres` on a free loopback port with its unix socket in that directory, stopped by its PID.

The binaries come from FINSYNC_POSTGRES_BIN, the machine's package (/usr/lib/postgresql/<n>/bin;
.ci/run installs it when missing) or the PATH. Without them the PostgreSQL tests fail with
what to do; only FINSYNC_TEST_POSTGRES=skip turns that into a skip, so CI can not go green
without having run them."""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

from cli.processes import free_port

SKIP_ENV = "FINSYNC_TEST_POSTGRES"
SUPERUSER = "finsync"
# postgres refuses to run as root: as root, the cluster belongs to this account.
SYSTEM_USER = "postgres"


class PostgresMissing(RuntimeError):
    pass


def find_bin() -> Path | None:
    candidates = [os.environ.get("FINSYNC_POSTGRES_BIN"),
                  *sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)]
    if (on_path := shutil.which("initdb")) is not None:
        candidates.append(str(Path(on_path).parent))
    for candidate in filter(None, candidates):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    return None


def _version(path: str) -> int:
    number = Path(path).parent.name
    return int(number) if number.isdigit() else 0


class PostgresServer:
    def __init__(self, port: int) -> None:
        self.port = port

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database (one per test): its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    bin_dir = find_bin()
    if bin_dir is None:
        raise PostgresMissing("no PostgreSQL server binaries (initdb, postgres) in FINSYNC_POSTGRES_BIN, "
                              "/usr/lib/postgresql/*/bin or on the PATH: install them (apt-get install postgresql; "
                              f".ci/run does) or set {SKIP_ENV}=skip to skip the PostgreSQL tests knowingly")
    # Not under pytest's tmp dirs: those are private to root, and the server may run as postgres.
    home = Path(tempfile.mkdtemp(prefix="finsync-pg-"))
    as_user: dict = {}
    if os.getuid() == 0:
        try:
            account = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresMissing(f"running as root, and postgres refuses root: no '{SYSTEM_USER}' account to run "
                                  "it as (the postgresql package creates one)") from None
        os.chown(home, account.pw_uid, account.pw_gid)
        as_user = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data, log = home / "data", home / "postgres.log"
    process = None
    try:
        subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
                        "--no-locale", "--no-sync"], check=True, capture_output=True, cwd=home, **as_user)
        port = free_port()
        with open(log, "ab") as out:
            # A test server: durability off (fsync), room for three workers' pools.
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(home),
                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=300"],
                stdout=out, stderr=subprocess.STDOUT, cwd=home, **as_user)
        _wait_ready(port, process, log)
        yield PostgresServer(port)
    finally:
        if process is not None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: end sessions, checkpoint, exit
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(home, ignore_errors=True)


def _wait_ready(port: int, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            with psycopg.connect(f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres", connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
