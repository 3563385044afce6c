"""The web console at /realms/{realm}/console/: for realm admins (a service account) and for
the realm's people, who sign in with their own account and see their own clients.

Server-rendered HTML; every page works without JavaScript but the copy buttons. It is not part
of the JSON API, so app/openapi.json does not document it; app.main mounts these routes beside
the API's.
"""

from starlette.routing import BaseRoute, Route

from app.web.console import client_pages, pages, people

CONSOLE = "/realms/{realm}/console"
# a clientId may hold "/" (a SAML entity id is a URL): the id runs to the action named last,
# and the detail page is routed after every action
CLIENT = "/clients/{client_id:path}"
USER = "/users/{username}"

ROUTES: list[BaseRoute] = [
    Route(CONSOLE, pages.bare_console, methods=["GET"]),
    Route(CONSOLE + "/", pages.home, methods=["GET"]),
    Route(CONSOLE + "/signin", pages.signin, methods=["GET", "POST"]),
    Route(CONSOLE + "/signout", pages.signout, methods=["POST"]),
    Route(CONSOLE + "/login", people.person_signin, methods=["GET"]),
    Route(CONSOLE + "/callback", people.callback, methods=["GET"]),
    Route(CONSOLE + "/users", people.users, methods=["GET"]),
    Route(CONSOLE + USER, people.user_detail, methods=["GET"]),
    Route(CONSOLE + USER + "/sessions/end", people.end_session, methods=["POST"]),
    Route(CONSOLE + USER + "/consents/withdraw", people.withdraw_consent, methods=["POST"]),
    Route(CONSOLE + "/clients", pages.clients, methods=["GET"]),
    Route(CONSOLE + CLIENT + "/edit", client_pages.client_edit, methods=["GET", "POST"]),
    Route(CONSOLE + CLIENT + "/enabled", client_pages.client_enabled, methods=["POST"]),
    Route(CONSOLE + CLIENT + "/client-secret", client_pages.client_secret, methods=["POST"]),
    Route(
        CONSOLE + CLIENT + "/registration-access-token", client_pages.client_rat, methods=["POST"]
    ),
    Route(CONSOLE + CLIENT + "/delete", client_pages.client_delete, methods=["GET", "POST"]),
    Route(CONSOLE + CLIENT, client_pages.client_detail, methods=["GET"]),
    Route(CONSOLE + "/tokens", pages.tokens, methods=["GET", "POST"]),
    Route(CONSOLE + "/tokens/{id}/delete", pages.token_delete, methods=["GET", "POST"]),
    Route(CONSOLE + "/new", pages.new_client, methods=["GET", "POST"]),
    Route(CONSOLE + "/policies", pages.policies, methods=["GET"]),
    Route(CONSOLE + "/events", pages.events, methods=["GET"]),
]

__all__ = ["ROUTES"]
