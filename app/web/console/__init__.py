"""The web console for realm admins at /realms/{realm}/console/ (issue 8 part 1).

Server-rendered HTML; every page works without JavaScript but the copy buttons. It is not part
of the JSON API, so app/openapi.json does not document it; app.main mounts these routes beside
the API's.
"""

from starlette.routing import BaseRoute, Route

from app.web.console import pages

CONSOLE = "/realms/{realm}/console"

ROUTES: list[BaseRoute] = [
    Route(CONSOLE, pages.bare_console, methods=["GET"]),
    Route(CONSOLE + "/", pages.home, methods=["GET"]),
    Route(CONSOLE + "/signin", pages.signin, methods=["GET", "POST"]),
    Route(CONSOLE + "/signout", pages.signout, methods=["POST"]),
    Route(CONSOLE + "/clients", pages.clients, methods=["GET"]),
    Route(CONSOLE + "/clients/{client_id}", pages.client_detail, methods=["GET"]),
    Route(CONSOLE + "/clients/{client_id}/enabled", pages.client_enabled, methods=["POST"]),
    Route(CONSOLE + "/clients/{client_id}/delete", pages.client_delete, methods=["POST"]),
    Route(CONSOLE + "/tokens", pages.tokens, methods=["GET", "POST"]),
    Route(CONSOLE + "/tokens/{id}/delete", pages.token_delete, methods=["POST"]),
    Route(CONSOLE + "/new", pages.new_client, methods=["GET", "POST"]),
]

__all__ = ["ROUTES"]
