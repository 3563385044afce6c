"""Signing users in (docs/reference.md §6): the authorization endpoint's HTML pages (login,
consent) and logout. The JSON endpoints of the same flow are in app.web.routes.signin."""

from app.web.signin.pages import ROUTES

__all__ = ["ROUTES"]
