"""GET / — a small page for a person who opens the server in a browser: every enabled realm
with its discovery document, registration endpoint and console. Not part of the JSON API (like
the console, app/openapi.json does not describe it)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from app.web.console.render import render
from app.web.requests import container_of


@dataclass(frozen=True)
class RealmLinks:
    name: str
    issuer: str


async def landing(request: Request) -> Response:
    container = container_of(request)
    realms = [
        RealmLinks(name, container.settings.issuer(name))
        for name in container.realms.names()
        if (realm := container.realms.get(name)) is not None and realm.enabled
    ]
    return render("landing.html", realms=realms, base=None, realm=None)


ROUTES: list[BaseRoute] = [Route("/", landing, methods=["GET"])]
