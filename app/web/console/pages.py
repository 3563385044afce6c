"""Console pages (issue 8 part 1): clients, initial access tokens and INDIGO IAM's "New client".

Each page calls the very services the API calls (app.services.admin, app.services.registration)
with the signed-in bearer's Credential, so roles and policies decide here exactly as there.
Errors of those services become a page with the same status and message, never a 500.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, quote

from starlette.requests import Request
from starlette.responses import Response

from app.auth.callers import Caller
from app.auth.roles import (
    MANAGE_CLIENTS,
    TO_CREATE_CLIENTS,
    TO_MANAGE_CLIENTS,
    TO_VIEW_CLIENTS,
    holds,
)
from app.config.realm_models import RealmConfig
from app.errors import InvalidRequest, RegistrarError
from app.rules.numbers import whole_number
from app.services.admin import MAX_PAGE, Admin
from app.services.registration import Registrations
from app.store.queries import ClientFilter, ClientState
from app.web.console.render import redirect, render
from app.web.console.session import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SignInRefused,
    clear_cookie,
    console_path,
    csrf_ok,
    csrf_token,
    new_signin_nonce,
    session_of,
    set_cookie,
    sign_in,
    sign_out,
    signin_nonce_ok,
)
from app.web.errors import PAGE_ERRORS, page_error
from app.web.requests import container_of, now, read_body, realm_of

FORM = ("application/x-www-form-urlencoded",)
PAGE_SIZE = 20
SEARCH_SCAN = 10_000  # clients looked at by one search, at most
MAX_QUERY = 200
MAX_NAME = 200
MAX_REDIRECT_URIS = 20
MAX_URI = 2000
NOTICES = {
    "expired": "Your session has expired or does not belong to this realm. Sign in again.",
    "signed-out": "You are signed out.",
    "enabled": "The client is enabled.",
    "disabled": "The client is disabled.",
    "deleted": "The client is deleted.",
    "token-deleted": "The initial access token is deleted.",
}
CSRF_REFUSED = "The form's security token is missing or wrong. Reload the page and try again."


class FormError(Exception):
    """Input the console refuses before calling a service (too long, not a number)."""


@dataclass(frozen=True)
class Page:
    request: Request
    realm: RealmConfig
    caller: Caller
    form: dict[str, list[str]]
    csrf: str  # this session's form token

    @property
    def admin(self) -> Admin:
        return container_of(self.request).admin

    @property
    def registrations(self) -> Registrations:
        return container_of(self.request).registrations

    @property
    def base(self) -> str:
        return console_path(self.realm.name)

    def can(self, permitted: frozenset[str]) -> bool:
        """Whether to offer an action; the services decide whether it is allowed."""
        return holds(self.caller, permitted)

    def field(self, name: str) -> str:
        return self.form.get(name, [""])[0]

    def show(self, template: str, status_code: int = 200, **extra: Any) -> Response:
        notice = NOTICES.get(self.request.query_params.get("notice", ""))
        return render(
            template,
            status_code,
            base=self.base,
            realm=self.realm.name,
            account=self.caller.subject,
            csrf=self.csrf,
            can_view=self.can(TO_VIEW_CLIENTS),
            can_manage=self.can(TO_MANAGE_CLIENTS),
            can_create=self.can(TO_CREATE_CLIENTS),
            notice=notice,
            **extra,
        )

    def error(self, status_code: int, message: str) -> Response:
        return self.show("error.html", status_code, message=message)


Handler = Callable[[Page], Awaitable[Response]]


async def read_form(request: Request) -> dict[str, list[str]]:
    if "content-type" not in request.headers:
        return {}  # a POST with no form at all: its CSRF token is missing (403)
    body = await read_body(request, FORM)  # 415 for another type, 413 past 64 KiB
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("The form could not be read") from exc
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def bare_error(status_code: int, message: str) -> Response:
    return render("error.html", status_code, base=None, message=message)


def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The realm, the session (else back to sign-in) and, for a POST, the form and its CSRF."""

    async def endpoint(request: Request) -> Response:
        try:
            realm = realm_of(request)
        except RegistrarError as exc:
            return bare_error(exc.status_code, exc.description)
        caller = await session_of(request, realm)
        if caller is None:
            expired = "?notice=expired" if SESSION_COOKIE in request.cookies else ""
            return redirect(f"{console_path(realm.name)}/signin{expired}")
        csrf = await csrf_token(request, realm, caller.token)
        page = Page(request, realm, caller, {}, csrf)
        try:
            if request.method == "POST":
                page = Page(request, realm, caller, await read_form(request), csrf)
                if not csrf_ok(csrf, page.field("csrf")):
                    return page.error(403, CSRF_REFUSED)
            return await handler(page)
        except PAGE_ERRORS as caught:
            error = page_error(caught)
            return page.error(error.status_code, error.description)
        except FormError as exc:
            return page.error(400, str(exc))

    return endpoint


# --- sign-in ----------------------------------------------------------------------------------


async def signin(request: Request) -> Response:
    try:
        realm = realm_of(request)
    except RegistrarError as exc:
        return bare_error(exc.status_code, exc.description)
    if request.method == "GET":
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return _signin_form(request, realm, notice=notice)
    try:
        form = await read_form(request)
    except RegistrarError as exc:
        return bare_error(exc.status_code, exc.description)
    if not signin_nonce_ok(request, form.get("csrf", [""])[0]):
        return bare_error(403, CSRF_REFUSED)
    client_id = form.get("client_id", [""])[0].strip()
    try:
        token, lifetime = await sign_in(
            request, realm, client_id, form.get("client_secret", [""])[0]
        )
    except SignInRefused as exc:
        return _signin_form(request, realm, status_code=401, error=str(exc), client_id=client_id)
    response = redirect(console_path(realm.name) + "/")
    set_cookie(request, response, SESSION_COOKIE, token, max_age=lifetime)
    clear_cookie(request, response, SIGNIN_COOKIE)
    return response


def _signin_form(
    request: Request, realm: RealmConfig, status_code: int = 200, **extra: Any
) -> Response:
    nonce = new_signin_nonce()
    response = render(
        "signin.html",
        status_code,
        base=console_path(realm.name),
        realm=realm.name,
        csrf=nonce,
        **extra,
    )
    set_cookie(request, response, SIGNIN_COOKIE, nonce, max_age=3600)
    return response


@signed_in
async def signout(page: Page) -> Response:
    await sign_out(page.request, page.realm, page.caller)
    response = redirect(f"{page.base}/signin?notice=signed-out")
    clear_cookie(page.request, response, SESSION_COOKIE)
    return response


@signed_in
async def home(page: Page) -> Response:
    if page.can(TO_VIEW_CLIENTS):
        return redirect(f"{page.base}/clients")
    return redirect(f"{page.base}/new")


async def bare_console(request: Request) -> Response:
    """…/console without the slash (the app does not redirect slashes by itself)."""
    return redirect(console_path(request.path_params["realm"]) + "/")


# --- clients ----------------------------------------------------------------------------------


async def search_clients(
    admin: Admin, realm: RealmConfig, caller: Caller, query: str, state: ClientState | None
) -> list[dict[str, Any]]:
    """Clients in `state` whose id or name contains `query` (case-insensitive), newest first,
    among the newest SEARCH_SCAN of the realm: names live in the metadata, so pages are scanned."""
    needle = query.casefold()
    where = ClientFilter(state=state, newest_first=True)
    found: list[dict[str, Any]] = []
    for first in range(0, SEARCH_SCAN, MAX_PAGE):  # bounded: SEARCH_SCAN clients at most
        chunk = await admin.list_clients(realm, caller, first, MAX_PAGE, where)
        found += [
            c
            for c in chunk
            if needle in str(c["clientId"]).casefold() or needle in str(c["name"] or "").casefold()
        ]
        if len(chunk) < MAX_PAGE:
            break
    return found


def _page_number(raw: str) -> int:
    return whole_number(raw, max_digits=6) or 1


# the list's filters: every client, or those in one state
STATES: dict[str, str] = {
    "enabled": "Enabled",
    "disabled": "Disabled",
    "waiting": "Waiting for approval",
}


@signed_in
async def clients(page: Page) -> Response:
    """Newest first, with a total, a filter by state and page x of y."""
    params = page.request.query_params
    query, state = params.get("q", "").strip(), params.get("state", "")
    if len(query) > MAX_QUERY:
        raise FormError(f"The search text is longer than {MAX_QUERY} characters.")
    if state and state not in STATES:
        raise FormError(f"Show one of: {', '.join(STATES.values())}.")
    chosen: ClientState | None = cast(ClientState, state) if state else None
    number = _page_number(params.get("page", ""))
    admin, realm, caller = page.admin, page.realm, page.caller
    if query:
        matches = await search_clients(admin, realm, caller, query, chosen)
        total = len(matches)
    else:
        total = await admin.count_clients(realm, caller, ClientFilter(state=chosen))
    pages = max(1, -(-total // PAGE_SIZE))
    number = min(number, pages)  # past the end: the last page, never an empty one
    if query:
        rows = matches[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    else:
        rows, total = await admin.client_list_page(realm, caller, chosen, number, PAGE_SIZE)
    return page.show(
        "clients.html",
        clients=rows,
        query=query,
        state=state,
        states=STATES,
        total=total,
        number=number,
        pages=pages,
        q=quote(query),
    )


def _client_id(page: Page) -> str:
    # no length check here: the services answer 404 for an id that names no client
    client_id: str = page.request.path_params["client_id"]
    return client_id


@signed_in
async def client_detail(page: Page) -> Response:
    client_id = _client_id(page)
    realm, caller = page.realm, page.caller
    shown = await page.admin.get_client(realm, caller, client_id)
    metadata = await page.registrations.read(realm, client_id, caller)
    return page.show(
        "client.html",
        client=shown,
        client_json=json.dumps(metadata, indent=2, ensure_ascii=False),
    )


@signed_in
async def client_enabled(page: Page) -> Response:
    client_id = _client_id(page)
    enabled = page.field("enabled") == "true"
    await page.admin.set_client_enabled(
        page.realm, page.caller, client_id, {"enabled": enabled}, now()
    )
    notice = "enabled" if enabled else "disabled"
    return redirect(f"{page.base}/clients/{quote(client_id)}?notice={notice}")


@signed_in
async def client_delete(page: Page) -> Response:
    client_id = _client_id(page)
    await page.registrations.remove(page.realm, client_id, page.caller)
    return redirect(f"{page.base}/clients?notice=deleted")


# --- initial access tokens -------------------------------------------------------------------


def _whole_number(page: Page, name: str, default: int) -> int:
    raw = page.field(name).strip()
    if not raw:
        return default
    value = whole_number(raw, max_digits=10)
    if value is None:
        raise FormError(f"The {name} must be a whole number of at most 10 digits.")
    return value


async def _tokens_page(page: Page, status_code: int = 200, **extra: Any) -> Response:
    listed = await page.admin.list_initial_access_tokens(page.realm, page.caller)
    return page.show("tokens.html", status_code, tokens=listed, **extra)


@signed_in
async def tokens(page: Page) -> Response:
    if page.request.method == "GET":
        return await _tokens_page(page)
    try:
        body = {"expiration": _whole_number(page, "expiration", 0)}
        body["count"] = _whole_number(page, "count", 1)
        created = await page.admin.create_initial_access_token(page.realm, page.caller, body, now())
    except (FormError, InvalidRequest) as exc:
        message = exc.description if isinstance(exc, InvalidRequest) else str(exc)
        return await _tokens_page(page, 400, form_error=message)
    return await _tokens_page(page, 201, created=created)


@signed_in
async def token_delete(page: Page) -> Response:
    token_id = page.request.path_params["id"]
    await page.admin.delete_initial_access_token(page.realm, page.caller, token_id)
    return redirect(f"{page.base}/tokens?notice=token-deleted")


# --- new client (INDIGO IAM's dashboard flow) -------------------------------------------------


def offered_scopes(page: Page) -> list[str]:
    """The realm's scopes; restricted ones only for manage-clients (issue 8)."""
    scopes = page.realm.scopes
    restricted = scopes.restricted if MANAGE_CLIENTS in page.caller.roles else ()
    return list(dict.fromkeys(scopes.default + scopes.optional + restricted))


def metadata_from_form(page: Page) -> dict[str, Any]:
    """RFC 7591 metadata from the form: name, redirect URIs, scopes, grants, client type."""
    name = page.field("client_name").strip()
    if len(name) > MAX_NAME:
        raise FormError(f"The client name is longer than {MAX_NAME} characters.")
    uris = [line.strip() for line in page.field("redirect_uris").splitlines() if line.strip()]
    if len(uris) > MAX_REDIRECT_URIS:
        raise FormError(f"Give at most {MAX_REDIRECT_URIS} redirect URIs.")
    if any(len(uri) > MAX_URI for uri in uris):
        raise FormError(f"A redirect URI is longer than {MAX_URI} characters.")
    scopes = [s for s in page.form.get("scope", []) if s in offered_scopes(page)]
    grants = [g for g in page.form.get("grant_type", []) if g in GRANTS]
    if "offline_access" in scopes:
        grants.append("refresh_token")  # INDIGO: offline_access is how a client gets refresh tokens
    public = page.field("client_type") == "public"
    body: dict[str, Any] = {
        "grant_types": grants or ["authorization_code"],
        "response_types": ["code"] if "authorization_code" in grants or not grants else [],
        "token_endpoint_auth_method": "none" if public else "client_secret_basic",
    }
    if name:
        body["client_name"] = name
    if uris:
        body["redirect_uris"] = uris
    if scopes:
        body["scope"] = " ".join(scopes)
    return body


GRANTS = ("authorization_code", "client_credentials")


def _new_form(page: Page, status_code: int = 200, error: str | None = None) -> Response:
    posted = bool(page.form)
    return page.show(
        "new_client.html",
        status_code,
        scopes=offered_scopes(page),
        restricted=page.realm.scopes.restricted,
        checked=set(page.form.get("scope", [])) if posted else set(page.realm.scopes.default),
        grants=set(page.form.get("grant_type", [])) if posted else {"authorization_code"},
        values={k: page.field(k) for k in ("client_name", "redirect_uris", "client_type")},
        form_error=error,
    )


@signed_in
async def new_client(page: Page) -> Response:
    page.registrations.check_may_register(page.caller)
    if page.request.method == "GET":
        return _new_form(page)
    try:
        body = metadata_from_form(page)
        reply = await page.registrations.register(page.realm, page.caller, body, now())
    except FormError as exc:
        return _new_form(page, 400, str(exc))
    except RegistrarError as exc:
        return _new_form(page, exc.status_code, exc.description)
    return page.show(
        "registered.html",
        201,
        reply=reply,
        client_json=json.dumps(reply, indent=2, ensure_ascii=False),
    )
