"""The treasury database's schema comes from the migrations (adapters/migrations/): a new
database and a SQLite file made by the old create_all both end at the newest revision with
every table, replicas that open a PostgreSQL store together migrate it once, and a worker
configured for production refuses a SQLite store before it starts."""

import multiprocessing
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import inspect, text

from adapters.database import head_revision, treasury_engine
from adapters.treasury_store import TreasuryStore
from settings import Settings

TABLES = {"treasury_outflow", "payment_run", "paying_account_lock", "payment_register", "bank_message",
          "payment_file_refusal", "posted_statement", "payment_run_header", "payment_run_item", "payment_run_file",
          "lifecycle_outbox", "vendor", "vendor_bank_account", "vendor_sync_state", "vendor_bank_change",
          "audit_entry", "audit_chain_head", "bank_reference"}
REPO = Path(__file__).resolve().parents[2]


def _revision(store: TreasuryStore) -> str:
    with store.engine.connect() as conn:
        return conn.execute(text("select version_num from alembic_version")).scalar_one()


def test_a_new_database_gets_every_table_at_the_newest_revision(treasury_url):
    store = TreasuryStore(treasury_url)
    assert set(inspect(store.engine).get_table_names()) == TABLES | {"alembic_version"}
    assert _revision(store) == head_revision()


def test_a_create_all_sqlite_file_is_adopted_with_its_rows(tmp_path):
    """What an embedded stack made before migrations: only some tables, no approvers column."""
    path = tmp_path / "treasury.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE treasury_outflow (invoice_key VARCHAR NOT NULL PRIMARY KEY, company_code VARCHAR "
                    "NOT NULL, supplier_id VARCHAR NOT NULL, currency VARCHAR NOT NULL, amount VARCHAR NOT NULL, "
                    "value_date DATE NOT NULL, state VARCHAR NOT NULL)")
        old.execute("INSERT INTO treasury_outflow VALUES ('1710-1-A', '1710', '1', 'EUR', '1.10', '2026-12-01', "
                    "'expected')")
        old.execute("CREATE TABLE payment_register (end_to_end_id VARCHAR NOT NULL PRIMARY KEY, invoice_key VARCHAR "
                    "NOT NULL, workflow_id VARCHAR NOT NULL, run_key VARCHAR NOT NULL, message_id VARCHAR NOT NULL, "
                    "payment_info_id VARCHAR NOT NULL, attempt INTEGER NOT NULL, amount VARCHAR NOT NULL, "
                    "currency VARCHAR NOT NULL, remittance_reference VARCHAR NOT NULL)")
    store = TreasuryStore(f"sqlite:///{path}")
    assert _revision(store) == head_revision()
    assert set(inspect(store.engine).get_table_names()) == TABLES | {"alembic_version"}
    assert "accounting_document" in {c["name"] for c in inspect(store.engine).get_columns("payment_register")}
    outflow = store.get_outflow("1710-1-A")
    assert outflow is not None and outflow.approvers == [] and str(outflow.amount) == "1.10"


def _open(url: str) -> None:
    TreasuryStore(url)


def test_replicas_opening_a_new_postgresql_store_together_migrate_it_once(postgres_server):
    url = postgres_server.create_database()
    spawn = multiprocessing.get_context("spawn")
    replicas = [spawn.Process(target=_open, args=(url,)) for _ in range(3)]
    for p in replicas:
        p.start()
    for p in replicas:
        p.join(timeout=120)
    assert [p.exitcode for p in replicas] == [0, 0, 0]  # none lost a race for CREATE TABLE
    with treasury_engine(url).connect() as conn:
        assert conn.execute(text("select version_num from alembic_version")).scalars().all() == [head_revision()]


def test_production_refuses_a_sqlite_store():
    with pytest.raises(ValidationError, match="FINSYNC_ENVIRONMENT=production refuses a SQLite treasury store"):
        Settings(environment="production")
    assert Settings(environment="production", treasury_db_url="postgresql+psycopg://finsync@db/finsync")


def test_a_production_worker_on_sqlite_stops_at_start_up_saying_why():
    done = subprocess.run([sys.executable, "worker.py"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "FINSYNC_ENVIRONMENT": "production",
                               "PYTHONPATH": str(REPO), "TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert done.returncode == 1
    assert "finsync worker not started: FINSYNC_ENVIRONMENT=production refuses a SQLite" in done.stderr
    assert "Traceback" not in done.stderr
