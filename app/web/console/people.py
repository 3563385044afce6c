"""People in the console: a realm user signs in with their own account, the way Keycloak's
console does it (the console is a client of its realm: authorization code with PKCE through
the realm's authorization endpoint and login page, app.services.console_client), and admins see
the realm's users, their sessions and consents (app.services.people).

The sign-in's state, PKCE verifier and nonce wait in a cookie of their own, SameSite=Lax: the
callback is a top-level navigation that may come back from another site (an upstream provider).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from app.errors import RegistrarError
from app.web.console.pages import Page, bare_error, signed_in, signin_form
from app.web.console.render import redirect
from app.web.console.session import (
    SESSION_COOKIE,
    clear_cookie,
    console_path,
    set_cookie,
    signin_cookie_lax,
)
from app.web.requests import container_of, now, realm_of

LOGIN_COOKIE = "registrar_console_login"
LOGIN_SECONDS = 600  # a sign-in started longer ago than this starts again
NOTICES = {
    "session-ended": "The session is ended: that browser must sign in again.",
    "consent-withdrawn": "The consent is withdrawn and the client's tokens for this user revoked.",
}


async def person_signin(request: Request) -> Response:
    """Start a person's sign-in: off to the realm's authorization endpoint."""
    try:
        realm = realm_of(request)
    except RegistrarError as exc:
        return bare_error(exc.status_code, exc.description)
    state, verifier, nonce = (secrets.token_urlsafe(n) for n in (24, 48, 24))
    url = container_of(request).console_signin.authorization_url(realm, state, verifier, nonce)
    response = redirect(url)
    signin_cookie_lax(request, response, LOGIN_COOKIE, f"{state}.{verifier}.{nonce}", LOGIN_SECONDS)
    return response


async def callback(request: Request) -> Response:
    """The console's redirect URI: check state and issuer, redeem the code, start the session."""
    try:
        realm = realm_of(request)
    except RegistrarError as exc:
        return bare_error(exc.status_code, exc.description)
    container = container_of(request)
    params = request.query_params
    state, verifier, nonce = (request.cookies.get(LOGIN_COOKIE, "").split(".") + ["", "", ""])[:3]

    def refused(message: str, status_code: int = 400) -> Response:
        response = signin_form(request, realm, status_code, error=message)
        clear_cookie(request, response, LOGIN_COOKIE)
        return response

    # RFC 6749 §10.12: the state binds the answer to this browser's request (CSRF)
    if not state or not hmac.compare_digest(params.get("state", "").encode(), state.encode()):
        return refused("The sign-in took too long or began elsewhere. Sign in again.")
    # RFC 9207 §2.4: "Clients MUST compare the iss parameter to the issuer identifier of the
    # authorization server"
    if params.get("iss") != container.settings.issuer(realm.name):
        return refused("The answer came from another issuer. Sign in again.")
    if "error" in params:
        if params["error"] == "access_denied":
            return refused("The sign-in was cancelled.", 401)
        return refused(f"The sign-in was refused: {params.get('error_description', '')[:200]}")
    try:
        token, lifetime = await container.console_signin.redeem(
            realm, params.get("code", ""), verifier, nonce, now()
        )
    except RegistrarError as exc:
        return refused(f"The sign-in could not be completed: {exc.description}")
    response = redirect(console_path(realm.name) + "/")
    set_cookie(request, response, SESSION_COOKIE, token, max_age=lifetime)
    clear_cookie(request, response, LOGIN_COOKIE)
    return response


# --- the realm's users (admins) ---------------------------------------------------------------


@signed_in
async def users(page: Page) -> Response:
    people = await container_of(page.request).people.everyone(page.realm, page.caller, now())
    return page.show("users.html", users=people)


async def _user_page(page: Page, status_code: int = 200) -> Response:
    username = page.params["username"]
    person, sessions, consents = await container_of(page.request).people.one(
        page.realm, page.caller, username, now()
    )
    key = page.request.query_params.get("done", "")
    return page.show(
        "user.html",
        status_code,
        shown=person,
        sessions=sessions,
        consents=consents,
        user_path=f"{page.base}/users/{quote(username, safe='')}",
        done=NOTICES.get(key),
    )


@signed_in
async def user_detail(page: Page) -> Response:
    return await _user_page(page)


@signed_in
async def end_session(page: Page) -> Response:
    username = page.params["username"]
    people = container_of(page.request).people
    await people.end_session(page.realm, page.caller, username, page.field("session"))
    return redirect(f"{page.base}/users/{quote(username, safe='')}?done=session-ended")


@signed_in
async def withdraw_consent(page: Page) -> Response:
    username = page.params["username"]
    people = container_of(page.request).people
    await people.withdraw_consent(page.realm, page.caller, username, page.field("client_id"))
    return redirect(f"{page.base}/users/{quote(username, safe='')}?done=consent-withdrawn")
