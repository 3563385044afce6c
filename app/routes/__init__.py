"""Starlette endpoints: parse → one service call → render. CONTRACT §3 is the table of them."""

from starlette.routing import BaseRoute

from app.routes import admin, dcr, openapi, token

ROUTES: list[BaseRoute] = [*dcr.ROUTES, *token.ROUTES, *admin.ROUTES, *openapi.ROUTES]

__all__ = ["ROUTES"]
