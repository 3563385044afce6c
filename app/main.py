"""Application assembly: create_app(settings), the lifespan that starts and stops Container."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from app import logs
from app.config.settings import Settings, load_settings
from app.container import Container
from app.rules.forwarded import TrustedProxies
from app.scheduler import start_scheduler
from app.web import console, landing, signin
from app.web.errors import HANDLED, error_response
from app.web.fastlane import Registrar
from app.web.request_limits import RequestLimits
from app.web.routes import ROUTES


def create_app(settings: Settings, *, scheduler: bool = True) -> Starlette:
    container = Container.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await container.start()
        jobs = start_scheduler(container) if scheduler else None
        try:
            yield
        finally:
            if jobs is not None:
                jobs.shutdown(wait=False)
            await container.stop()

    app = Registrar(
        routes=[*ROUTES, *console.ROUTES, *signin.ROUTES, *landing.ROUTES],
        lifespan=lifespan,
        exception_handlers=dict.fromkeys(HANDLED, error_response),
        limits=RequestLimits(settings.max_header_bytes, settings.max_url_bytes),
        max_in_flight=settings.max_connections,
        container=container,
        access_log=settings.access_log,
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
    )
    # a path with a stray trailing slash gets a JSON 404 / 405, not a 307 with an empty body
    app.router.redirect_slashes = False
    return app


def create_app_from_environ() -> Starlette:
    """uvicorn's factory for `serve --workers N`: every worker rebuilds the same Settings."""
    settings = load_settings()
    configure_logging(settings)
    return create_app(settings)


def configure_logging(settings: Settings) -> None:
    logs.configure(settings.log_level, json_lines=settings.log_format == "json")
