"""Typing help for the SQLModel tables, where SQLModel's annotations say less than it does."""

from sqlalchemy import Insert, Result, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlmodel import SQLModel


def table(model: type[SQLModel]) -> Table:
    """The Table of a `table=True` model, for create_all and Core inserts."""
    # SQLModel's metaclass sets __table__ on table models; its annotations do not declare it.
    return model.__table__  # type: ignore[attr-defined]



def insert_ignoring_duplicates(dialect: str, model: type[SQLModel], values: dict) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the key: atomic in the database, so of two
    processes inserting the same key one gets its row back and the other nothing, with no
    error to roll back (PostgreSQL aborts the whole transaction on an IntegrityError). RETURNING,
    not rowcount: psycopg reports -1 for this statement through SQLAlchemy."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (dialect_insert(table(model)).values(**values).on_conflict_do_nothing()
            .returning(*table(model).primary_key.columns))


def rowcount(result: Result) -> int:
    """Rows an UPDATE or DELETE touched (Session.execute's annotation hides the cursor), or
    whether an insert_ignoring_duplicates inserted (1) or found the key taken (0)."""
    assert isinstance(result, CursorResult)
    return len(result.all()) if result.returns_rows else result.rowcount
