"""Starlette endpoints: parse → one service call → render. CONTRACT §3 is the table of them."""

from starlette.routing import BaseRoute

from app import console
from app.routes import admin, dcr, indigo, openapi, token

ROUTES: list[BaseRoute] = [
    *dcr.ROUTES,
    *token.ROUTES,
    *admin.ROUTES,
    *openapi.ROUTES,
    *indigo.ROUTES,
    *console.ROUTES,
]

__all__ = ["ROUTES"]
