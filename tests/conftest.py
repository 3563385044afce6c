"""Fixtures: settings on a fresh database (SQLite, or PostgreSQL per test), the app in-process
through httpx's ASGI transport, and real `registrar serve` processes for races and restarts."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from starlette.applications import Starlette

from app.config.settings import Settings
from app.main import create_app

HERE = Path(__file__).parent
APP_REALMS = HERE / "app_realms"
PG_ADMIN_URL = os.environ.get("REGISTRAR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
TEST_SECRET_KEY = "q8Qk3mJm7yIYc4tB8v1P0t2XhC3lE6cT0wq9t2uL6sA"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _fresh_pg_database() -> str:
    name = f"registrar_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/registrar.db"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own, dropped afterwards."""
    name = _fresh_pg_database()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        _drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Storage guarantees run on both databases."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/registrar.db"
        return
    name = _fresh_pg_database()
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        _drop_pg_database(name)


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    target = tmp_path / "realms"
    shutil.copytree(APP_REALMS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Settings:
    return make_settings(tmp_path, realms_dir, sqlite_url)


def make_settings(tmp_path: Path, realms_dir: Path, database_url: str) -> Settings:
    """Settings of an in-process app on `database_url`, seen as http://testserver."""
    return Settings(
        realms_dir=realms_dir,
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        secret_key_file=tmp_path / "secret.key",
        public_url="http://testserver",
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings, scheduler=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, seen from 127.0.0.1 (a trusted host of tests/app_realms/open.yaml)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def stranger(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, seen from an address no realm trusts."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


# --- real server processes ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A `registrar serve` child process on 127.0.0.1."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(
    tmp_path: Path,
    realms_dir: Path,
    database_url: str,
    workers: int = 1,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> LiveServer:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / f"server-{port}-{uuid.uuid4().hex[:6]}.log"
    env = {
        **os.environ,
        "REGISTRAR_SECRET_KEY": TEST_SECRET_KEY,
        "REGISTRAR_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
        "REGISTRAR_REALM_POLL_INTERVAL": "0.5",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "app",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--realms-dir",
        str(realms_dir),
        "--database-url",
        database_url,
        "--public-url",
        url,
        "--workers",
        str(workers),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    server = LiveServer(url, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):  # not listening yet
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    server.stop(kill=True)
    raise RuntimeError(f"server did not become healthy:\n{log.read_text()}")


@pytest.fixture
def live_server(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[LiveServer]:
    server = start_server(tmp_path, realms_dir, sqlite_url)
    try:
        yield server
    finally:
        server.stop()
