"""A local Tryton server on its own SQLite database, for the embedded stack and the tests.

`prepare` creates the database once (`trytond-admin --all` with the accounting modules, ~35 s
on one core), seeds it (cli/tryton_seed.py, ~10 s) and leaves it be afterwards; `tryton_process`
starts `trytond` on it, loading the database's modules before it listens, so an open port is a
server ready to answer. The admin password comes from a file (TRYTONPASSFILE), never argv.
"""

import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

from cli.processes import BIN, ManagedProcess

# What finsync books in Tryton; trytond-admin activates their dependencies (account, party,
# company, currency, country, product) with them.
TRYTON_MODULES = ("account_invoice", "account_payment", "account_statement", "bank")
DATABASE = "finsync"


def write_config(directory: Path, port: int) -> Path:
    """trytond.conf for a SQLite database directory and a loopback port."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "trytond.conf"
    config.write_text(f"[database]\nuri = sqlite://\npath = {directory}\n\n[web]\nlisten = 127.0.0.1:{port}\n")
    return config


def database_file(directory: Path, database: str = DATABASE) -> Path:
    return directory / f"{database}.sqlite"


def _run(args: list[str], log: Path, env: dict[str, str] | None = None, stdin: str = "") -> None:
    with open(log, "ab") as out:
        done = subprocess.run(args, input=stdin.encode(), stdout=out, stderr=subprocess.STDOUT,
                              env={**os.environ, **(env or {})}, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:2])} ... exited with {done.returncode}; see {log}")


def init_database(config: Path, directory: Path, password: str, log: Path, database: str = DATABASE) -> None:
    """Create the Tryton database with finsync's modules and the admin's password."""
    database_file(directory, database).touch()  # SQLite: a database is a file trytond-admin fills
    password_file = directory / "admin.password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    # stdin answers the admin's e-mail question with "none".
    _run([str(BIN / "trytond-admin"), "-c", str(config), "-d", database, "--activate-dependencies",
          "-u", *TRYTON_MODULES], log, env={"TRYTONPASSFILE": str(password_file)}, stdin="\n")


def seed_database(config: Path, log: Path, years: list[int] | None = None, database: str = DATABASE) -> None:
    args = [sys.executable, "-m", "cli.tryton_seed", "-c", str(config), "-d", database]
    for year in years or []:
        args += ["--year", str(year)]
    _run(args, log)


def admin_password(directory: Path) -> str:
    """The admin password of the stack's Tryton: made once, kept beside its database."""
    directory.mkdir(parents=True, exist_ok=True)
    stored = directory / "admin.password"
    if not stored.exists():
        # A database copied from a template (prepare) keeps the template's password.
        template = os.environ.get("FINSYNC_TRYTON_TEMPLATE_DB") and os.environ.get("FINSYNC_TRYTON_TEMPLATE_PASSWORD")
        stored.write_text((template or secrets.token_urlsafe(18)) + "\n")
        stored.chmod(0o600)
    return stored.read_text().strip()


def needs_preparing(directory: Path, database: str = DATABASE) -> bool:
    return not (directory / ".seeded").exists() or not database_file(directory, database).exists()


def prepare(directory: Path, port: int, password: str, log: Path, years: list[int] | None = None,
            database: str = DATABASE) -> Path:
    """The database ready to serve (created and seeded on first use); returns the config file.
    FINSYNC_TRYTON_TEMPLATE_DB names a seeded database to copy instead (the tests' cache)."""
    config = write_config(directory, port)
    if needs_preparing(directory, database):
        target = database_file(directory, database)
        target.unlink(missing_ok=True)
        template = os.environ.get("FINSYNC_TRYTON_TEMPLATE_DB")
        if template:  # seeded already, with FINSYNC_TRYTON_TEMPLATE_PASSWORD (admin_password)
            copy_database(Path(template), target)
        else:
            init_database(config, directory, password, log, database)
            seed_database(config, log, years, database)
        (directory / ".seeded").touch()
    return config


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database in WAL mode (a plain file copy can miss the WAL,
    or pick up a stale one beside the target)."""
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    partial = target.with_suffix(".partial")
    with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    os.replace(partial, target)


def tryton_process(config: Path, log: Path, database: str = DATABASE) -> ManagedProcess:
    # -d loads the database's modules before the server listens (a first request to a server
    # that had not loaded them was refused with KeyError 'res.user').
    return ManagedProcess("tryton", [str(BIN / "trytond"), "-c", str(config), "-d", database], log)
