"""Typing help for the SQLModel tables, where SQLModel's annotations say less than it does."""

from sqlalchemy import Table
from sqlmodel import SQLModel


def table(model: type[SQLModel]) -> Table:
    """The Table of a `table=True` model, for create_all and Core inserts."""
    # SQLModel's metaclass sets __table__ on table models; its annotations do not declare it.
    return model.__table__  # type: ignore[attr-defined]

