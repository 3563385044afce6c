"""The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2) and its pages: login, consent,
logout. Cookies: the sign-in session (HttpOnly, SameSite=Lax, Secure on an https public URL,
Path=/realms/{realm}/) and a CSRF value doubled in every form.

The authorization request travels through the login and consent forms as one hidden field and
is judged again on every step, so no server-side state exists before the user signs in.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from jinja2 import ChoiceLoader, Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from app.auth.secret_values import same_secret
from app.config.realm_models import RealmConfig
from app.errors import InvalidRequest, TooManyRequests
from app.services.authorization import (
    AuthorizationRequest,
    AuthorizationResponse,
    BadAuthorizationRequest,
    ErrorRedirect,
    LoginFailed,
    SessionRow,
)
from app.services.signin_events import (
    CONSENT_GRANTED,
    INVALID_CREDENTIALS,
    NO_CONSENT_REQUIRED,
    PERSISTED_CONSENT,
    REJECTED_BY_USER,
)
from app.web.requests import container_of, host_of, now, read_body, realm_of

SESSION_COOKIE = "registrar_session"
CSRF_COOKIE = "registrar_csrf"
OIDC = "/realms/{realm}/protocol/openid-connect"
FORM = ("application/x-www-form-urlencoded",)

_ENV = Environment(
    loader=ChoiceLoader(
        [
            PackageLoader("app.web.signin", "templates"),
            PackageLoader("app.web.console", "templates"),
        ]
    ),
    autoescape=True,
)


def _headers(nonce: str, form_target: str | None, script: bool = False) -> dict[str, str]:
    # the forms post here and are answered with a redirect to the client: a browser applies
    # form-action to that redirect too, so the client's origin is allowed beside 'self'
    target = ""
    if form_target:
        parts = urlsplit(form_target)
        target = f" {parts.scheme}://{parts.netloc}"
    return {
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; "
            + (f"script-src 'nonce-{nonce}'; " if script else "")
            + f"form-action 'self'{target}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _render(
    template: str,
    status_code: int = 200,
    form_target: str | None = None,
    script: bool = False,
    **context: Any,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _ENV.get_template(template).render(nonce=nonce, **context)
    headers = _headers(nonce, form_target, script)
    return HTMLResponse(html, status_code=status_code, headers=headers)


def _cookie_path(realm: RealmConfig) -> str:
    return f"/realms/{realm.name}/"


def _secure(request: Request) -> bool:
    return container_of(request).settings.base_url.startswith("https://")


def _set_cookie(
    request: Request, response: Response, realm: RealmConfig, name: str, value: str
) -> None:
    response.set_cookie(
        name,
        value,
        path=_cookie_path(realm),
        secure=_secure(request),
        httponly=True,
        # Lax: the cookie comes along when a client's link or redirect brings the user here
        samesite="lax",
    )


def _problem(realm: RealmConfig, message: str, status_code: int = 400) -> HTMLResponse:
    return _render(
        "problem.html", status_code, realm=realm.name, page_title="Sign-in refused", message=message
    )


def _redirect(request: Request, url: str) -> RedirectResponse:
    # 303 after a form POST, so the browser GETs the client's redirect URI
    status = 303 if request.method == "POST" else 302
    return RedirectResponse(url, status_code=status, headers={"Cache-Control": "no-store"})


def _answer(request: Request, realm: RealmConfig, response: AuthorizationResponse) -> Response:
    """The authorization response: a redirect, or with response_mode=form_post a page whose
    form the browser posts to the client (OAuth 2.0 Form Post Response Mode §2: the parameters
    "are encoded as HTML form values that are auto-submitted in the User Agent"); a visible
    button submits it where script does not run."""
    if not response.form_post:
        return _redirect(request, response.url)
    return _render(
        "form_post.html",
        form_target=response.redirect_uri,
        script=True,
        realm=realm.name,
        page_title="Back to the application",
        redirect_uri=response.redirect_uri,
        params=response.params,
    )


async def _form_pairs(request: Request) -> list[tuple[str, str]]:
    body = await read_body(request, FORM)
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("The request body is not a valid form") from exc


def _csrf_value(request: Request) -> tuple[str, bool]:
    """The CSRF value of this browser, and whether it is new (the response must set it)."""
    found = request.cookies.get(CSRF_COOKIE, "")
    if 20 <= len(found) <= 100:
        return found, False
    return secrets.token_urlsafe(32), True


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie, presented = request.cookies.get(CSRF_COOKIE, ""), form.get("csrf", "")
    return bool(cookie) and bool(presented) and same_secret(presented, cookie)


def _page(
    request: Request, realm: RealmConfig, template: str, auth: AuthorizationRequest, **context: Any
) -> HTMLResponse:
    csrf, new = _csrf_value(request)
    base = f"{container_of(request).settings.base_url}/realms/{realm.name}/protocol/openid-connect"
    response = _render(
        template,
        form_target=auth.redirect_uri,
        realm=realm.name,
        csrf=csrf,
        request_text=urlencode(auth.params),
        client_name=auth.client_name,
        redirect_host=auth.redirect_host,
        action=f"{base}/auth/{'login' if template == 'login.html' else 'consent'}",
        **context,
    )
    if new:
        _set_cookie(request, response, realm, CSRF_COOKIE, csrf)
    return response


def _login_page(
    request: Request,
    realm: RealmConfig,
    auth: AuthorizationRequest,
    error: str | None = None,
    username: str | None = None,
) -> HTMLResponse:
    login = realm.login
    upstream = login.upstream if login else None
    upstream_url = None
    if upstream is not None:
        base = container_of(request).settings.base_url
        query = urlencode({"request": urlencode(auth.params)})
        upstream_url = f"{base}/realms/{realm.name}/broker/{upstream.alias}/login?{query}"
    return _page(
        request, realm, "login.html", auth, page_title="Sign in",
        can_sign_in=login is not None and (bool(login.users) or upstream is not None),
        local_accounts=login is not None and bool(login.users),
        upstream_label=upstream.label if upstream else None, upstream_url=upstream_url,
        error=error, username=username or auth.login_hint,
    )  # fmt: skip


async def _continue(
    request: Request,
    realm: RealmConfig,
    auth: AuthorizationRequest,
    session: SessionRow | None,
    *,
    fresh_login: bool = False,
    consented: bool = False,
) -> Response:
    """The next step of a judged request: login, consent, or the code."""
    flow = container_of(request).authorization
    if session is None or (not fresh_login and flow.needs_login(auth, session, now())):
        if "none" in auth.prompt:
            # OIDC Core §3.1.2.6: login_required when prompt=none and nobody is signed in
            _login_error(request, realm, auth, "login_required")
            answer = flow.refuse(realm, auth, "login_required", "Nobody is signed in")
            return _answer(request, realm, answer)
        return _login_page(request, realm, auth)
    if not consented and await flow.needs_consent(realm, auth, session.username):
        if "none" in auth.prompt:
            _login_error(request, realm, auth, "consent_required", session.username)
            answer = flow.refuse(realm, auth, "consent_required", "The user has not consented")
            return _answer(request, realm, answer)
        scopes = auth.scope.split()
        person = await flow.person(realm, session.username)
        return _page(
            request, realm, "consent.html", auth, page_title="Grant access",
            username=person.username if person else session.username, scopes=scopes,
        )  # fmt: skip
    answer = await flow.issue_code(realm, auth, session, now())
    consent = CONSENT_GRANTED if consented else NO_CONSENT_REQUIRED
    if auth.consent_required and not consented:
        consent = PERSISTED_CONSENT
    container_of(request).signin_events.login(
        realm, host_of(request), auth.client_id, session.username, auth.redirect_uri, consent
    )
    return _answer(request, realm, answer)


def _login_error(
    request: Request,
    realm: RealmConfig,
    auth: AuthorizationRequest,
    error: str,
    username: str | None = None,
) -> None:
    container_of(request).signin_events.login_error(
        realm, host_of(request), auth.client_id, error, auth.redirect_uri, username
    )


async def _judged(
    request: Request, realm: RealmConfig, pairs: list[tuple[str, str]]
) -> AuthorizationRequest | Response:
    try:
        return await container_of(request).authorization.read_request(realm, pairs)
    except BadAuthorizationRequest as exc:
        return _problem(realm, exc.description)
    except ErrorRedirect as exc:
        return _answer(request, realm, exc.response)


async def authorize(request: Request) -> Response:
    """GET or POST (OIDC Core §3.1.2.1: "Authorization Servers MUST support the use of the HTTP
    GET and POST methods") of the authorization request."""
    realm = realm_of(request)
    pairs = (
        await _form_pairs(request)
        if request.method == "POST"
        else parse_qsl(request.url.query, keep_blank_values=True)
    )
    auth = await _judged(request, realm, pairs)
    if isinstance(auth, Response):
        return auth
    flow = container_of(request).authorization
    session = await flow.session(realm, request.cookies.get(SESSION_COOKIE), now())
    return await _continue(request, realm, auth, session)


async def _submitted(
    request: Request, realm: RealmConfig
) -> tuple[dict[str, str], AuthorizationRequest | Response]:
    pairs = await _form_pairs(request)
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    if not _csrf_ok(request, form):
        return form, _problem(realm, "The form expired or came from another site; start again.")
    inner = parse_qsl(form.get("request", ""), keep_blank_values=True)
    return form, await _judged(request, realm, inner)


async def login(request: Request) -> Response:
    realm = realm_of(request)
    form, auth = await _submitted(request, realm)
    if isinstance(auth, Response):
        return auth
    container = container_of(request)
    flow = container.authorization
    username = form.get("username", "")[:200]
    try:
        # the realm's rate_limits.sign_in, per address and account: password guessing slowed
        await container.limiter.check(realm, "sign_in", f"{host_of(request)} {username}", now())
    except TooManyRequests as exc:
        page = _login_page(request, realm, auth, error=exc.description, username=username)
        page.status_code = 429
        page.headers.update(exc.headers())
        return page
    try:
        session_id, session = await flow.sign_in(realm, username, form.get("password", ""), now())
    except LoginFailed as exc:
        _login_error(request, realm, auth, INVALID_CREDENTIALS, username)
        return _login_page(request, realm, auth, error=str(exc), username=username)
    response = await _continue(request, realm, auth, session, fresh_login=True)
    _set_cookie(request, response, realm, SESSION_COOKIE, session_id)
    return response


async def consent(request: Request) -> Response:
    realm = realm_of(request)
    form, auth = await _submitted(request, realm)
    if isinstance(auth, Response):
        return auth
    flow = container_of(request).authorization
    session = await flow.session(realm, request.cookies.get(SESSION_COOKIE), now())
    if session is None:
        return _login_page(request, realm, auth)
    if "accept" not in form:
        # RFC 6749 §4.1.2.1: "access_denied — The resource owner or authorization server
        # denied the request."
        _login_error(request, realm, auth, REJECTED_BY_USER, session.username)
        answer = flow.refuse(realm, auth, "access_denied", "The user did not grant access")
        return _answer(request, realm, answer)
    await flow.remember_consent(realm, auth, session.username)
    return await _continue(request, realm, auth, session, fresh_login=True, consented=True)


async def logout(request: Request) -> Response:
    """End the realm's sign-in session (OIDC RP-Initiated Logout 1.0), then go back to the
    client's registered post_logout_redirect_uri, or show that the user is signed out."""
    realm = realm_of(request)
    query = dict(parse_qsl(request.url.query, keep_blank_values=True))
    flow = container_of(request).authorization
    try:
        target = await flow.logout_target(
            realm,
            query.get("client_id"),
            query.get("id_token_hint"),
            query.get("post_logout_redirect_uri"),
            query.get("state"),
        )
    except BadAuthorizationRequest as exc:
        error = "invalid_token" if "id_token_hint" in exc.description else "invalid_redirect_uri"
        events = container_of(request).signin_events
        events.logout_error(realm, host_of(request), error, query.get("post_logout_redirect_uri"))
        return _problem(realm, exc.description)
    session = await flow.session(realm, request.cookies.get(SESSION_COOKIE), now())
    await flow.sign_out(realm, request.cookies.get(SESSION_COOKIE))
    if session is not None:
        container_of(request).signin_events.logout(
            realm, host_of(request), session.username, query.get("post_logout_redirect_uri")
        )
    response: Response = (
        _redirect(request, target)
        if target
        else _render("signed_out.html", realm=realm.name, page_title="Signed out")
    )
    response.delete_cookie(
        SESSION_COOKIE, path=_cookie_path(realm), secure=_secure(request), httponly=True,
        samesite="lax",
    )  # fmt: skip
    return response


ROUTES: list[BaseRoute] = [
    Route(OIDC + "/auth", authorize, methods=["GET", "POST"]),
    Route(OIDC + "/auth/login", login, methods=["POST"]),
    Route(OIDC + "/auth/consent", consent, methods=["POST"]),
    Route(OIDC + "/logout", logout, methods=["GET"]),
]
