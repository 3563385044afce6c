"""The test suite's own helpers: the PostgreSQL URLs of tests/databases.py, the `live` guard of
tests/live.py, the Hypothesis profiles of tests/profiles.py, the deadlines of wait_until."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from sqlalchemy.engine import make_url

from tests import profiles
from tests.databases import PG_ADMIN_URL, database_name, pg_url_for
from tests.helpers import async_wait_until, wait_until
from tests.live import start_server


def test_a_test_database_url_keeps_everything_of_the_admin_url_but_driver_and_name() -> None:
    admin = "postgresql://ops:p%40ss%2Fw0rd@db.internal:6543/postgres?sslmode=disable"
    url = pg_url_for("registrar_test_1", admin)
    assert url == (
        "postgresql+psycopg://ops:p%40ss%2Fw0rd@db.internal:6543/registrar_test_1?sslmode=disable"
    )
    parsed = make_url(url)
    assert (parsed.username, parsed.password) == ("ops", "p@ss/w0rd")
    assert (parsed.host, parsed.port, parsed.database) == ("db.internal", 6543, "registrar_test_1")
    assert database_name(url) == "registrar_test_1"


def test_the_pg_url_fixture_is_on_the_server_of_registrar_test_pg(pg_url: str) -> None:
    admin, made = make_url(PG_ADMIN_URL), make_url(pg_url)
    assert made.drivername == "postgresql+psycopg"
    assert (made.host, made.port, made.username, made.password) == (
        admin.host,
        admin.port,
        admin.username,
        admin.password,
    )
    conninfo = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row == (database_name(pg_url),)


def test_a_test_not_marked_live_cannot_start_a_server(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    """What keeps `scripts/test --fast` (which deselects `live`) free of real servers."""
    with pytest.raises(RuntimeError, match="not marked `live`"):
        start_server(tmp_path, realms_dir, sqlite_url).stop()


@pytest.mark.parametrize(
    ("environ", "profile"),
    [
        ({}, "dev"),
        ({"CI": "true"}, "ci"),
        ({"CI": "1"}, "ci"),
        ({"CI": "false"}, "dev"),
        ({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}, "dev"),
        ({"HYPOTHESIS_PROFILE": "deep"}, "deep"),
    ],
)
def test_the_hypothesis_profile_is_dev_locally_ci_on_ci_or_the_one_named(
    environ: dict[str, str], profile: str
) -> None:
    assert profiles.chosen(environ) == profile


def test_the_chosen_hypothesis_profile_is_loaded() -> None:
    expected = profiles.EXAMPLES[profiles.chosen(os.environ)]
    assert settings().max_examples == expected
    assert profiles.EXAMPLES["dev"] < profiles.EXAMPLES["ci"]


def test_wait_until_polls_until_true_and_returns_the_value() -> None:
    calls: list[int] = []

    def third_time() -> str:
        calls.append(1)
        return "ready" if len(calls) == 3 else ""

    assert wait_until(third_time, timeout=5, what="the third call", interval=0.001) == "ready"
    assert len(calls) == 3


def test_wait_until_fails_at_the_deadline_saying_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"timed out after 0.2 s waiting for Godot"):
        wait_until(lambda: False, timeout=0.2, what="Godot", interval=0.01)
    assert 0.2 <= time.monotonic() - started < 2


@pytest.mark.anyio
async def test_async_wait_until_takes_plain_and_async_predicates() -> None:
    calls: list[int] = []

    async def second_time() -> bool:
        calls.append(1)
        return len(calls) == 2

    await async_wait_until(second_time, timeout=5, what="the second call", interval=0.001)
    assert len(calls) == 2
    await async_wait_until(lambda: calls, timeout=5, what="a call")
    with pytest.raises(AssertionError, match="timed out after 0.1 s waiting for nothing"):
        await async_wait_until(lambda: [], timeout=0.1, what="nothing", interval=0.01)
