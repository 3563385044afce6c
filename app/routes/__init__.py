"""Starlette endpoints of the JSON API: parse → one service call → render (CONTRACT §3).

The HTML console (app.console) is added beside these in app.main; it builds on
app.routes.common, so importing it from here would be a cycle.
"""

from starlette.routing import BaseRoute

from app.routes import admin, dcr, indigo, openapi, token

ROUTES: list[BaseRoute] = [
    *dcr.ROUTES,
    *token.ROUTES,
    *admin.ROUTES,
    *openapi.ROUTES,
    *indigo.ROUTES,
]

__all__ = ["ROUTES"]
