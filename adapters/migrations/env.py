"""Alembic's entry point for the treasury database. A store passes its open connection
(adapters/database.py: upgrade); the alembic CLI (`alembic -c adapters/migrations/alembic.ini ...`,
for writing a new revision) connects to FINSYNC_TREASURY_DB_URL."""

from alembic import context
from sqlalchemy import MetaData

from adapters.database import treasury_engine
from settings import get_settings


def treasury_metadata() -> MetaData:
    """Only the treasury store's tables: SQLModel's metadata also holds intake's own table,
    which lives in another database."""
    from adapters.audit_log import _TABLES as AUDIT_TABLES
    from adapters.lifecycle_outbox import OutboxRow
    from adapters.payment_registers import _TABLES as REGISTER_TABLES
    from adapters.payment_run_store import _TABLES as RUN_TABLES
    from adapters.sql import table
    from adapters.treasury_store import OutflowRow
    from adapters.vendor_store import _TABLES as VENDOR_MODELS

    metadata = MetaData()
    for t in [table(OutflowRow), *REGISTER_TABLES, *RUN_TABLES, table(OutboxRow), *map(table, VENDOR_MODELS),
              *AUDIT_TABLES]:
        t.to_metadata(metadata)
    return metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        with treasury_engine(get_settings().treasury_db_url).connect() as own:
            _migrate(own)
            own.commit()
    else:
        _migrate(connection)


def _migrate(connection) -> None:
    # Batch mode: SQLite alters a table by copying it, and a later revision must work there too.
    context.configure(connection=connection, target_metadata=treasury_metadata(), render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
