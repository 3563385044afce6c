"""Signing users in (docs/reference.md §6): the authorization endpoint's HTML pages (login,
consent), logout, and signing in at an upstream provider. The JSON endpoints of the same flow
are in app.web.routes.signin."""

from app.web.signin.broker import ROUTES as BROKER_ROUTES
from app.web.signin.pages import ROUTES as PAGE_ROUTES

ROUTES = [*PAGE_ROUTES, *BROKER_ROUTES]

__all__ = ["ROUTES"]
