"""The web console for realm admins at /realms/{realm}/console/ (issue 8 part 1).

Server-rendered HTML; every page works without JavaScript but the copy buttons. It is not part
of the JSON API, so app/openapi.json does not document it; app.main mounts these routes beside
the API's.
"""

from starlette.routing import BaseRoute, Route

from app.web.console import client_pages, pages

CONSOLE = "/realms/{realm}/console"
CLIENT = "/clients/{client_id}"

ROUTES: list[BaseRoute] = [
    Route(CONSOLE, pages.bare_console, methods=["GET"]),
    Route(CONSOLE + "/", pages.home, methods=["GET"]),
    Route(CONSOLE + "/signin", pages.signin, methods=["GET", "POST"]),
    Route(CONSOLE + "/signout", pages.signout, methods=["POST"]),
    Route(CONSOLE + "/clients", pages.clients, methods=["GET"]),
    Route(CONSOLE + "/clients/{client_id}", client_pages.client_detail, methods=["GET"]),
    Route(CONSOLE + CLIENT + "/edit", client_pages.client_edit, methods=["GET", "POST"]),
    Route(CONSOLE + CLIENT + "/enabled", client_pages.client_enabled, methods=["POST"]),
    Route(CONSOLE + CLIENT + "/client-secret", client_pages.client_secret, methods=["POST"]),
    Route(
        CONSOLE + CLIENT + "/registration-access-token", client_pages.client_rat, methods=["POST"]
    ),
    Route(CONSOLE + CLIENT + "/delete", client_pages.client_delete, methods=["GET", "POST"]),
    Route(CONSOLE + "/tokens", pages.tokens, methods=["GET", "POST"]),
    Route(CONSOLE + "/tokens/{id}/delete", pages.token_delete, methods=["GET", "POST"]),
    Route(CONSOLE + "/new", pages.new_client, methods=["GET", "POST"]),
    Route(CONSOLE + "/policies", pages.policies, methods=["GET"]),
    Route(CONSOLE + "/events", pages.events, methods=["GET"]),
]

__all__ = ["ROUTES"]
