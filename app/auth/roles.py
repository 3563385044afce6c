"""Realm-management roles (Keycloak's names) and the one place that decides who may do what.

Roles are read from a bearer's `resource_access["realm-management"].roles` (app.auth.bearer).
Every service checks its caller here, whichever door the request came through: the JSON API,
the console, or the command line (the operator, who holds every role).
"""

from __future__ import annotations

from app.auth.callers import Caller
from app.errors import InsufficientScope, InvalidToken, MissingToken

MANAGE_CLIENTS = "manage-clients"
VIEW_CLIENTS = "view-clients"
CREATE_CLIENT = "create-client"
VIEW_EVENTS = "view-events"
VIEW_USERS = "view-users"
MANAGE_USERS = "manage-users"

# one of these roles permits the action (Keycloak's realm-management semantics)
TO_CREATE_CLIENTS = frozenset({CREATE_CLIENT, MANAGE_CLIENTS})
TO_VIEW_CLIENTS = frozenset({VIEW_CLIENTS, MANAGE_CLIENTS})
TO_MANAGE_CLIENTS = frozenset({MANAGE_CLIENTS})
TO_VIEW_EVENTS = frozenset({VIEW_EVENTS, MANAGE_CLIENTS})
# the realm's people, their sessions and consents: seen, and ended or withdrawn
TO_VIEW_USERS = frozenset({VIEW_USERS, MANAGE_USERS, MANAGE_CLIENTS})
TO_MANAGE_USERS = frozenset({MANAGE_USERS, MANAGE_CLIENTS})
EVERY_ROLE = frozenset({MANAGE_CLIENTS, VIEW_CLIENTS, CREATE_CLIENT})

# the command line acts on the database directly: whoever runs it administers every realm
OPERATOR = Caller("operator", roles=EVERY_ROLE)


def holds(caller: Caller, permitted: frozenset[str]) -> bool:
    """Whether the caller holds one of the `permitted` roles."""
    return bool(caller.roles & permitted)


def require_role(caller: Caller, permitted: frozenset[str]) -> None:
    """403 insufficient_scope unless the caller holds one of the `permitted` roles."""
    if not holds(caller, permitted):
        raise InsufficientScope(
            f"The bearer token lacks the role: {' or '.join(sorted(permitted))}"
        )


def owns(caller: Caller, registered_by: str | None) -> bool:
    """Whether the caller is the signed-in person who registered the client."""
    return bool(caller.user) and caller.kind == "bearer" and registered_by == caller.user


def require_role_or_owner(
    caller: Caller, permitted: frozenset[str], registered_by: str | None
) -> None:
    """A person may act on the clients they registered; anyone else needs a `permitted` role."""
    if not owns(caller, registered_by):
        require_role(caller, permitted)


def require_admin(caller: Caller, permitted: frozenset[str]) -> None:
    """Admin endpoints: a bearer access token (or the operator) with one of `permitted`."""
    if caller.kind == "anonymous":
        raise MissingToken("A bearer access token is required")
    if caller.kind not in ("bearer", "operator"):
        raise InvalidToken("A bearer access token is required")
    require_role(caller, permitted)
