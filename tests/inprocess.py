"""The app in-process: its lifespan run around the test, requests through httpx's ASGI transport
(no sockets), seen as http://testserver from the address a test chooses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from starlette.applications import Starlette

from app.config.settings import Settings
from app.main import create_app
from tests.helpers import TEST_SECRET_KEY

# a trusted host of tests/app_realms/open.yaml, and an address no realm trusts
TRUSTED = "127.0.0.1"
STRANGER = "203.0.113.7"


def make_settings(tmp_path: Path, realms_dir: Path, database_url: str) -> Settings:
    """Settings of an in-process app on `database_url`, seen as http://testserver."""
    return Settings(
        realms_dir=realms_dir,
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        secret_key_file=tmp_path / "secret.key",
        public_url="http://testserver",
    )


@contextlib.asynccontextmanager
async def started(settings: Settings, *, scheduler: bool = False) -> AsyncIterator[Starlette]:
    """The app on `settings`, between its start-up and shut-down (no scheduler unless asked)."""
    application = create_app(settings, scheduler=scheduler)
    async with application.router.lifespan_context(application):
        yield application


@contextlib.asynccontextmanager
async def asgi_client(app: Starlette, host: str = TRUSTED) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of a started app, its requests coming from `host`."""
    transport = httpx.ASGITransport(app=app, client=(host, 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@contextlib.asynccontextmanager
async def in_process(
    settings: Settings, *, host: str = TRUSTED, scheduler: bool = False
) -> AsyncIterator[httpx.AsyncClient]:
    """started + asgi_client: a client of an app of its own on `settings`."""
    async with started(settings, scheduler=scheduler) as app, asgi_client(app, host) as http:
        yield http
