"""GET /metrics shows the database's connections (in use, open and allowed, every worker's added
up) and the tokens issued by grant (docs/reference.md §9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.metrics import exposition
from app.store.pg_pool import PgPool
from tests.helpers import service_token, wait_until
from tests.inprocess import in_process, make_settings
from tests.live import LiveServer, start_server
from tests.test_metrics import sample

IN_USE = "registrar_database_connections_in_use"
OPEN = "registrar_database_connections_open"
MAX = "registrar_database_connections_max"
TIMEOUTS = "registrar_database_connection_timeouts_total"


def pg_metric(name: str) -> float:
    return sample(exposition().decode(), name, database="postgresql")


@pytest.mark.anyio
async def test_the_pool_shows_connections_as_they_are_used(pg_url: str) -> None:
    before = {name: pg_metric(name) for name in (IN_USE, OPEN, MAX, TIMEOUTS)}

    def grown(name: str) -> float:
        return pg_metric(name) - before[name]

    pool = PgPool(pg_url.replace("+psycopg", ""), max_size=2, wait_timeout=0.2)
    await pool.start()
    try:
        assert (grown(MAX), grown(OPEN), grown(IN_USE)) == (2, 1, 0)
        async with pool.connection(), pool.connection():
            assert (grown(OPEN), grown(IN_USE)) == (2, 2)
            with pytest.raises(Exception, match="busy"):
                async with pool.connection():
                    pass  # never reached: a third connection is refused
            assert grown(TIMEOUTS) == 1
        assert (grown(OPEN), grown(IN_USE)) == (2, 0)
    finally:
        await pool.stop()
    # a stopped pool counts for nothing
    assert (grown(MAX), grown(OPEN), grown(IN_USE)) == (0, 0, 0)


@pytest.mark.anyio
async def test_tokens_are_counted_by_grant(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, realms_dir, sqlite_url)
    async with in_process(settings) as http:
        before = (await http.get("/metrics")).text
        for _ in range(2):
            await service_token(http)
        after = (await http.get("/metrics")).text
    total = "registrar_tokens_issued_total"
    labels = {"realm": "open", "grant": "client_credentials"}
    assert sample(after, total, **labels) - sample(before, total, **labels) == 2
    assert sample(after, OPEN, database="sqlite") >= 1


@pytest.fixture
def two_workers_on_postgresql(
    tmp_path: Path, realms_dir: Path, pg_url: str
) -> Iterator[LiveServer]:
    env = {"REGISTRAR_DATABASE_POOL_SIZE": "3"}
    server = start_server(tmp_path, realms_dir, pg_url, workers=2, extra_env=env)
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.live
def test_every_worker_s_pool_is_added_up(two_workers_on_postgresql: LiveServer) -> None:
    def both_counted() -> str:
        text = httpx.get(two_workers_on_postgresql.url + "/metrics", timeout=10).text
        # idle: a background flush may hold a connection for a moment, never for long
        idle = sample(text, IN_USE, database="postgresql") == 0
        return text if sample(text, MAX, database="postgresql") == 6 and idle else ""

    # each worker allows 3 and opens one at its start (the second may start a little later)
    text = wait_until(
        both_counted,
        timeout=30,
        what="both workers' pools in /metrics",
        interval=0.2,
    )
    assert sample(text, OPEN, database="postgresql") >= 2
    assert sample(text, IN_USE, database="postgresql") == 0
