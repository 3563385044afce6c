"""Fixtures: settings on a fresh database (SQLite, or PostgreSQL per test), the app in-process
through httpx's ASGI transport, and a real `registrar serve` process. The code behind them is in
tests/inprocess.py, tests/live.py and tests/databases.py. The Hypothesis profile (dev, or ci when
CI is set; HYPOTHESIS_PROFILE picks one) is loaded here, before any test module: see
tests/profiles.py."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from app.config.settings import Settings
from app.store.database import open_database
from app.store.signin import SigninStore
from tests import live, profiles
from tests.databases import fresh_pg_database
from tests.helpers import APP_REALMS
from tests.inprocess import STRANGER, TRUSTED, asgi_client, make_settings, started
from tests.live import LiveServer, running_server

HYPOTHESIS_PROFILE = profiles.load()


def pytest_report_header() -> str:
    return f"hypothesis profile: {HYPOTHESIS_PROFILE} (HYPOTHESIS_PROFILE=dev|ci|deep)"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before the test's fixtures: real servers only for tests marked `live`."""
    live.allow_servers(item.get_closest_marker("live") is not None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start real servers on PostgreSQL share one xdist group (`--dist loadgroup`
    runs a group's tests on one worker, one after another): each server process keeps a pool of
    up to 24 connections, and two such tests at once can ask for more than PostgreSQL's default
    max_connections of 100 ("sorry, too many clients already")."""
    for item in items:
        if item.get_closest_marker("live") is None:
            continue
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        fixtures = getattr(item, "fixturenames", ())
        if "pg_url" in fixtures or params.get("database_url") == "postgresql":
            item.add_marker(pytest.mark.xdist_group("postgresql"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/registrar.db"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Storage guarantees run on both databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/registrar.db"
        return
    with fresh_pg_database() as url:
        yield url


@pytest.fixture
async def signin_store(database_url: str) -> AsyncIterator[SigninStore]:
    """The sign-in store on a fresh database of each kind, started."""
    db = open_database(database_url)
    db.create_schema()
    await db.start()
    try:
        yield SigninStore(db)
    finally:
        await db.stop()


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    target = tmp_path / "realms"
    shutil.copytree(APP_REALMS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Settings:
    return make_settings(tmp_path, realms_dir, sqlite_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    async with started(settings) as application:
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, seen from 127.0.0.1 (a trusted host of tests/app_realms/open.yaml)."""
    async with asgi_client(app, TRUSTED) as http:
        yield http


@pytest.fixture
async def stranger(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, seen from an address no realm trusts."""
    async with asgi_client(app, STRANGER) as http:
        yield http


@pytest.fixture
def live_server(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    """A real server on SQLite (tests using it are marked `live`)."""
    with running_server(tmp_path, realms_dir, sqlite_url) as server:
        yield server


@pytest.fixture
async def lane_and_router(app: Starlette) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    """The same app twice: as served (the fast lane first) and through Starlette's router only,
    for the parity tests of the fast lane."""

    async def router_only(scope: Scope, receive: Receive, send: Send) -> None:
        await Starlette.__call__(app, scope, receive, send)

    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=asgi, client=("127.0.0.1", 50000)),
            base_url="http://testserver",
        )
        for asgi in (app, router_only)
    ]
    try:
        yield tuple(clients)
    finally:
        for http in clients:
            await http.aclose()
