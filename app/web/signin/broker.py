"""Signing in at the realm's upstream OpenID provider (Keycloak's identity brokering), in the
browser: the login page's "Sign in with …" link starts it, the upstream sends the user back to
Keycloak's callback path, and the authorization request goes on (consent, the code).

A cookie scoped to the broker's path binds the callback to the browser that began the sign-in;
SameSite=Lax, so it comes along on the upstream's redirect back (a top-level GET).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.config.realm_models import RealmConfig, UpstreamProvider
from app.services.broker import BrokerCancelled, BrokerProblem
from app.web.requests import container_of, now, realm_of
from app.web.signin.pages import (
    SESSION_COOKIE,
    _continue,
    _judged,
    _login_page,
    _problem,
    _render,
    _secure,
    _set_cookie,
)

BROKER = "/realms/{realm}/broker/{alias}"
BROKER_COOKIE = "registrar_broker"


def _provider(realm: RealmConfig, alias: str) -> UpstreamProvider | None:
    upstream = realm.login.upstream if realm.login else None
    return upstream if upstream is not None and upstream.alias == alias else None


def _cookie_path(realm: RealmConfig, provider: UpstreamProvider) -> str:
    return f"/realms/{realm.name}/broker/{provider.alias}/"


async def start(request: Request) -> Response:
    """GET …/broker/{alias}/login?request=…: off to the upstream with this browser's request."""
    realm = realm_of(request)
    provider = _provider(realm, request.path_params["alias"])
    if provider is None:
        return _problem(realm, "This realm has no such upstream provider.", 404)
    text = request.query_params.get("request", "")
    auth = await _judged(request, realm, parse_qsl(text, keep_blank_values=True))
    if isinstance(auth, Response):
        return auth
    broker = container_of(request).broker
    try:
        started = await broker.begin(realm, provider, urlencode(auth.params), now())
    except BrokerProblem as exc:
        return _problem(realm, exc.description, exc.status_code)
    response = RedirectResponse(started.url, 302, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        BROKER_COOKIE, started.browser_value, path=_cookie_path(realm, provider),
        secure=_secure(request), httponly=True, samesite="lax",
    )  # fmt: skip
    return response


async def endpoint(request: Request) -> Response:
    """GET /realms/{realm}/broker/{alias}/endpoint: the upstream's authorization response."""
    realm = realm_of(request)
    provider = _provider(realm, request.path_params["alias"])
    if provider is None:
        return _problem(realm, "This realm has no such upstream provider.", 404)
    params: dict[str, str] = {}
    for name, value in parse_qsl(request.url.query, keep_blank_values=True):
        params.setdefault(name, value)
    container = container_of(request)
    try:
        result = await container.broker.finish(
            realm, provider, params, request.cookies.get(BROKER_COOKIE), now()
        )
    except BrokerCancelled as exc:
        auth = await _judged(request, realm, parse_qsl(exc.request_text, keep_blank_values=True))
        if isinstance(auth, Response):
            return _forget(_interstitial(realm, auth), realm, provider)
        return _forget(_login_page(request, realm, auth, error=exc.description), realm, provider)
    except BrokerProblem as exc:
        return _problem(realm, exc.description, exc.status_code)
    auth = await _judged(request, realm, parse_qsl(result.request_text, keep_blank_values=True))
    if isinstance(auth, Response):  # the request no longer holds (its client was disabled, say)
        return _forget(_interstitial(realm, auth), realm, provider)
    session_id, session = await container.authorization.open_session(
        realm, result.person.sub, now()
    )
    response = _interstitial(
        realm, await _continue(request, realm, auth, session, fresh_login=True)
    )
    _set_cookie(request, response, realm, SESSION_COOKIE, session_id)
    return _forget(response, realm, provider)


def _interstitial(realm: RealmConfig, response: Response) -> Response:
    """A redirect to the client, as a page that moves on by itself.

    The user arrives here by the redirects that answer the form of the upstream's login page,
    and a browser checks each of them against that page's CSP form-action, which cannot know
    this realm's clients (registrar's own login page allows only 'self' and its client). A new
    page starts a new navigation: the Refresh header (HTML §7.11.1), and a link without it."""
    if response.status_code not in (302, 303):
        return response
    target = response.headers["location"]
    page = _render(
        "continue.html", realm=realm.name, page_title="Signed in", target=target,
        target_host=urlsplit(target).hostname or "",
    )  # fmt: skip
    page.headers["Refresh"] = f"0; url={target}"
    return page


def _forget(response: Response, realm: RealmConfig, provider: UpstreamProvider) -> Response:
    response.delete_cookie(BROKER_COOKIE, path=_cookie_path(realm, provider), httponly=True)
    return response


ROUTES: list[BaseRoute] = [
    Route(BROKER + "/login", start, methods=["GET"]),
    Route(BROKER + "/endpoint", endpoint, methods=["GET"]),
]
