"""The treasury database: its engine and its schema.

SQLite is the embedded default (one worker, `make up`, tests); PostgreSQL (psycopg 3) is what
replicas share in production. The schema is Alembic's (adapters/migrations/): every store
brings the database to the newest revision when it opens it, under a lock, so replicas that
start together migrate once and a store never runs on a schema older than its code."""

import contextlib
import fcntl
import os
import weakref
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key for schema upgrades: any constant, the same in every replica.
SCHEMA_LOCK_KEY = 0x66696E73796E63  # "finsync"

_ready: "weakref.WeakSet[Engine]" = weakref.WeakSet()


def normalise_url(url: str) -> str:
    """`postgresql://` means psycopg2 to SQLAlchemy; psycopg 3 is the driver we declare."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if parsed.database.startswith("file:"):  # URI form: leave it to the caller
        return None
    return Path(parsed.database)


def treasury_engine(url: str) -> Engine:
    url = normalise_url(url)
    if not is_sqlite(url):
        # Timestamps are written in UTC into columns without a zone (the schema SQLite had);
        # a session in another zone would shift them on the way in.
        return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})
    if (path := sqlite_file(url)) is not None:
        private_sqlite_file(path)
    # Activities run in worker threads; each Session still uses one connection at a time.
    engine = create_engine(url, connect_args={"check_same_thread": False})
    _enable_wal(engine)
    return engine


def private_sqlite_file(path: Path) -> None:
    """The SQLite file (and its WAL and shared-memory files, which SQLite gives the main file's
    mode) readable by its owner only: it holds raw bank messages and payment registers
    (architecture invariant 9). Created so before SQLite opens it, whatever the umask; an
    existing one made world-readable before is narrowed."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


def _enable_wal(engine: Engine) -> None:
    # WAL lets the CLI read positions while the worker writes. synchronous stays at the
    # default FULL: this is a money ledger, not a cache.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@lru_cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(engine: Engine) -> None:
    """Upgrade to head unless this engine was already seen at head: one cheap read on open."""
    if engine in _ready:
        return
    with engine.connect() as connection:
        at_head = current_revision(connection) == head_revision()
    if not at_head:
        upgrade(engine)
    _ready.add(engine)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """`alembic upgrade` on this engine, one process at a time: the others wait for the lock,
    then find the schema at head and do nothing."""
    with engine.connect() as connection, _migration_lock(engine, connection):
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


@contextlib.contextmanager
def _migration_lock(engine: Engine, connection: Connection) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        # Held until the migration's transaction commits; DDL is transactional in PostgreSQL,
        # so the next replica sees either nothing done or everything.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        yield
        return
    path = sqlite_file(str(engine.url))
    if path is None:  # in memory: this process is the only one that can see it
        yield
        return
    with open(f"{path}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield
