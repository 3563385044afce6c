"""The PostgreSQL server the tests use, and a fresh database of their own on it.

REGISTRAR_TEST_PG names the server as a URL to its maintenance database (default
postgresql://postgres@127.0.0.1:5432/postgres): tests create and drop their databases through it,
and the app reaches each one at the same host, port, user and password."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
from sqlalchemy.engine import make_url

PG_ADMIN_URL = os.environ.get("REGISTRAR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def pg_url_for(name: str, admin_url: str = PG_ADMIN_URL) -> str:
    """The app's URL (psycopg driver) for database `name` on the server of `admin_url`."""
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def database_name(url: str) -> str:
    name = make_url(url).database
    assert name, url
    return name


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
