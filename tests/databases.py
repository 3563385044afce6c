"""The PostgreSQL server the tests use, and a fresh database of their own on it.

REGISTRAR_TEST_PG names the server as a URL to its maintenance database (default
postgresql://postgres@127.0.0.1:5432/postgres): tests create and drop their databases through it."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg

PG_ADMIN_URL = os.environ.get("REGISTRAR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_url_for(name: str) -> str:
    """The app's URL (psycopg driver) for database `name`."""
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def admin_sql(sql: str) -> None:
    """One statement on the maintenance database, outside any transaction."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty database for one test (its app URL), dropped afterwards."""
    name = f"registrar_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url_for(name)
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
