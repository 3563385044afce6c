"""Starlette endpoints of the JSON API: parse → one service call → render (docs/reference.md §3).

The HTML console (app.web.console) is added beside these in app.main; it builds on
app.web.requests, so importing it from here would be a cycle.
"""

from starlette.routing import BaseRoute

from app.web.routes import (
    admin,
    indigo,
    keycloak_providers,
    metrics,
    openapi,
    registration,
    signin,
    token,
)

ROUTES: list[BaseRoute] = [
    *registration.ROUTES,
    *keycloak_providers.ROUTES,
    *token.ROUTES,
    *signin.ROUTES,
    *admin.ROUTES,
    *openapi.ROUTES,
    *indigo.ROUTES,
    *metrics.ROUTES,
]

__all__ = ["ROUTES"]
