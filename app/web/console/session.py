"""Console sessions: the realm's own access token in a cookie, and CSRF tokens.

Signing in is the token endpoint's client_credentials grant for a service account of the
realm; the access token it issues is the session, kept in an HttpOnly, SameSite=Strict cookie
scoped to the realm's console path, and verified on every request exactly as an API bearer.
A form's CSRF token is an HMAC of that session token with the realm's HMAC key; the sign-in
form, which has no session yet, uses a random value doubled in a cookie of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from app.auth.callers import Caller
from app.auth.roles import EVERY_ROLE, TO_VIEW_EVENTS, TO_VIEW_USERS, holds
from app.config.realm_models import RealmConfig
from app.errors import InvalidClient, InvalidToken
from app.services.console_client import CONSOLE_CLIENT_ID
from app.web.requests import container_of, host_of, now

SESSION_COOKIE = "registrar_console"
REALM_SESSION_COOKIE = "registrar_session"  # the realm's sign-in session (app.web.signin)
SIGNIN_COOKIE = "registrar_console_signin"
# any one of them opens the console to a service account; a person needs none
CONSOLE_ROLES = EVERY_ROLE | TO_VIEW_USERS | TO_VIEW_EVENTS
_CSRF_CONTEXT = b"registrar console csrf\x00"


class SignInRefused(Exception):
    """Wrong credentials, or an account that holds no console role."""


def console_path(realm: str) -> str:
    return f"/realms/{realm}/console"


def _secure(request: Request) -> bool:
    return container_of(request).settings.base_url.startswith("https://")


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=console_path(request.path_params["realm"]),
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def signin_cookie_lax(
    request: Request, response: Response, name: str, value: str, max_age: int
) -> None:
    """A cookie that comes along when the realm's login page, or a provider it sends the person
    to, redirects back to the console (a cross-site redirect drops Strict cookies)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=console_path(request.path_params["realm"]),
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name,
        path=console_path(request.path_params["realm"]),
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


async def sign_in(
    request: Request, realm: RealmConfig, client_id: str, secret: str
) -> tuple[str, int]:
    """The realm's access token for a service account with a console role, and its lifetime
    in seconds (the session cookie lives no longer than the token it carries)."""
    container = container_of(request)
    tokens = container.tokens
    # per address and account: guessing one account's secret, or many accounts', is slowed
    subject = f"{host_of(request)} {client_id}"
    await container.limiter.check(realm, "sign_in", subject, now())
    try:
        client = await tokens.authenticate_client(realm, client_id, secret)
    except InvalidClient as exc:
        raise SignInRefused("Unknown client id or wrong secret.") from exc
    if not client.service_account or not CONSOLE_ROLES & set(client.roles):
        raise SignInRefused(
            "This account has none of the roles manage-clients, view-clients, create-client, "
            "view-users, manage-users or view-events."
        )
    form = {"grant_type": "client_credentials"}
    reply = await tokens.issue_token(realm, client, form, now())
    token: str = reply["access_token"]
    lifetime: int = reply["expires_in"]
    return token, lifetime


async def sign_out(request: Request, realm: RealmConfig, session: Caller) -> None:
    """End the session on the server: its token stops working here and at the API at once."""
    await container_of(request).tokens.revoke(realm, session)


async def session_of(request: Request, realm: RealmConfig) -> Caller | None:
    """The signed-in bearer, or None when the cookie is missing, expired or not this realm's."""
    return await session_of_token(request, realm, request.cookies.get(SESSION_COOKIE, ""))


async def session_of_token(request: Request, realm: RealmConfig, token: str) -> Caller | None:
    """The bearer of a session token, or None when it is no (longer a) console session."""
    if not token or len(token) > 8192:
        return None
    authenticator = container_of(request).authenticator
    try:
        caller = await authenticator.caller(realm, token, host_of(request), now())
    except InvalidToken:
        return None
    if caller.kind != "bearer":
        return None
    if caller.user:
        # a person's session is their access token for the console's own client
        return caller if caller.subject == CONSOLE_CLIENT_ID else None
    return caller if holds(caller, CONSOLE_ROLES) else None


async def csrf_token(request: Request, realm: RealmConfig, session_token: str) -> str:
    key = (await container_of(request).keyring.get(realm.name)).hmac_key
    return hmac.new(key, _CSRF_CONTEXT + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_ok(expected: str, presented: str) -> bool:
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode())


def new_signin_nonce() -> str:
    return secrets.token_urlsafe(24)


def signin_nonce_ok(request: Request, presented: str) -> bool:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    return bool(expected) and hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


async def end_realm_session(
    request: Request, realm: RealmConfig, response: Response, username: str
) -> None:
    """End the person's sign-in session at the realm (its cookie comes along: its path is the
    realm's), so signing in to the console again asks for the password again."""
    container = container_of(request)
    session_id = request.cookies.get(REALM_SESSION_COOKIE)
    if session_id:
        await container.authorization.sign_out(realm, session_id)
        container.signin_events.logout(realm, host_of(request), username)
    response.delete_cookie(
        REALM_SESSION_COOKIE, path=f"/realms/{realm.name}/", secure=_secure(request),
        httponly=True, samesite="lax",
    )  # fmt: skip
