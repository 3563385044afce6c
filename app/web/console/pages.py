"""Console pages: clients, initial access tokens and INDIGO IAM's "New client".

Each page calls the very services the API calls (app.services.admin, app.services.registration)
with the signed-in bearer's Credential, so roles and policies decide here exactly as there.
Errors of those services become a page with the same status and message, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
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
    TO_VIEW_EVENTS,
    TO_VIEW_USERS,
    holds,
    require_role,
)
from app.config.realm_models import PolicyConfig, RealmConfig
from app.errors import InvalidRequest, NotFound, RegistrarError, TooManyRequests
from app.rules.numbers import whole_number
from app.services.admin import MAX_PAGE, Admin
from app.services.registration import Registrations
from app.store.queries import ClientFilter, ClientState
from app.web.console import forms
from app.web.console.render import redirect, render, utc
from app.web.console.session import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    SignInRefused,
    clear_cookie,
    console_path,
    csrf_ok,
    csrf_token,
    end_realm_session,
    new_signin_nonce,
    session_of,
    session_of_token,
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
NOTICES = {
    "expired": "Your session has expired or does not belong to this realm. Sign in again.",
    "signed-out": "You are signed out.",
    "enabled": "The client is enabled.",
    "disabled": "The client is disabled.",
    "deleted": "The client is deleted.",
    "token-deleted": "The initial access token is deleted.",
    "saved": "The client is saved.",
}
WARNINGS = frozenset({"expired"})  # notices shown as a warning, not as a success
CSRF_REFUSED = "The form's security token is missing or wrong. Reload the page and try again."


class FormError(Exception):
    """Input the console refuses before calling a service (too long, not a number): every
    problem of the form at once, each naming its field in words."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Page:
    request: Request
    realm: RealmConfig
    caller: Caller
    form: dict[str, list[str]]
    csrf: str  # this session's form token
    # the page's path parameters: the request's, or those of the form refilled after a sign-in
    params: dict[str, str] = field(default_factory=dict)
    # a form shown again, filled with what was typed before the session ended: not submitted
    refill: bool = False

    @property
    def posted(self) -> bool:
        """Whether this request submits the page's form (a refill only shows it)."""
        return self.request.method == "POST" and not self.refill

    @property
    def admin(self) -> Admin:
        return container_of(self.request).admin

    @property
    def registrations(self) -> Registrations:
        return container_of(self.request).registrations

    @property
    def base(self) -> str:
        return console_path(self.realm.name)

    @property
    def person(self) -> bool:
        """Whether a person signed in (with their own account), not a service account."""
        return bool(self.caller.user)

    def can(self, permitted: frozenset[str]) -> bool:
        """Whether to offer an action; the services decide whether it is allowed."""
        return holds(self.caller, permitted)

    def field(self, name: str) -> str:
        return self.form.get(name, [""])[0]

    def show(self, template: str, status_code: int = 200, **extra: Any) -> Response:
        key = self.request.query_params.get("notice", "")
        notice = NOTICES.get(key)
        return render(
            template,
            status_code,
            base=self.base,
            realm=self.realm.name,
            account=self.caller.user or self.caller.subject,
            csrf=self.csrf,
            can_view=self.can(TO_VIEW_CLIENTS),
            can_manage=self.can(TO_MANAGE_CLIENTS),
            can_create=self.can(TO_CREATE_CLIENTS) or self.person,
            can_view_events=self.can(TO_VIEW_EVENTS),
            can_view_users=self.can(TO_VIEW_USERS),
            person=self.person,
            notice=notice,
            notice_warns=key in WARNINGS,
            **extra,
        )

    def error(self, status_code: int, message: str) -> Response:
        return self.show("error.html", status_code, message=message)


Handler = Callable[[Page], Awaitable[Response]]
# forms a sign-in may show again filled: (path under the console, handler), see `refillable`
REFILLABLE: list[tuple[re.Pattern[str], Handler]] = []
# paths a sign-in may return to (`next`): the console's pages; ids are server-made UUIDs
_RETURNABLE = re.compile(
    r"/(clients|tokens|new|policies|clients/[0-9A-Za-z-]{1,64}(/edit|/delete)?"
    r"|tokens/[0-9A-Za-z-]{1,64}/delete)"
)
# a POST-only action returns to the page it was offered on
_ACTION = re.compile(
    r"(/clients/[0-9A-Za-z-]{1,64})/(enabled|client-secret|registration-access-token)"
)
NOT_CARRIED = frozenset({"csrf"})  # re-made for the new session, never carried


def refillable(pattern: str) -> Callable[[Handler], Handler]:
    """Register a page whose form a sign-in shows again with what was typed before the
    session ended: `pattern` is its path under the console, its groups the page's
    path parameters."""

    def register(handler: Handler) -> Handler:
        REFILLABLE.append((re.compile(pattern), handler))
        return handler

    return register


def return_path(realm: RealmConfig, path: str) -> str | None:
    """Where a sign-in may take the admin back to: only this realm's console pages."""
    base = console_path(realm.name)
    if not path.startswith(base + "/"):
        return None
    rest = path[len(base) :]
    action = _ACTION.fullmatch(rest)
    if action:
        rest = action.group(1)
    return base + rest if _RETURNABLE.fullmatch(rest) else None


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
            if request.method == "POST":
                return await _signin_keeping_the_form(request, realm)
            expired = "?notice=expired" if SESSION_COOKIE in request.cookies else ""
            return redirect(f"{console_path(realm.name)}/signin{expired}")
        csrf = await csrf_token(request, realm, caller.token)
        page = Page(request, realm, caller, {}, csrf, dict(request.path_params))
        try:
            if request.method == "POST":
                page = replace(page, form=await read_form(request))
                if not csrf_ok(csrf, page.field("csrf")):
                    return page.error(403, CSRF_REFUSED)
            return await handler(page)
        except PAGE_ERRORS as caught:
            error = page_error(caught)
            return page.error(error.status_code, error.description)
        except FormError as exc:
            return page.error(400, str(exc))

    return endpoint


async def _signin_keeping_the_form(request: Request, realm: RealmConfig) -> Response:
    """A form posted after its session ended: the sign-in page, carrying what was typed (in
    hidden fields, never the CSRF token) and where to go back to; nothing is done with it."""
    try:
        form = await read_form(request)
    except RegistrarError:
        form = {}
    carried = [(k, v) for k, values in form.items() if k not in NOT_CARRIED for v in values]
    return signin_form(
        request,
        realm,
        notice=NOTICES["expired"] + " What you typed is kept: sign in to see the form again.",
        notice_warns=True,
        next=return_path(realm, request.url.path),
        carried=carried,
    )


# --- sign-in ----------------------------------------------------------------------------------


async def signin(request: Request) -> Response:
    try:
        realm = realm_of(request)
    except RegistrarError as exc:
        return bare_error(exc.status_code, exc.description)
    if request.method == "GET":
        key = request.query_params.get("notice", "")
        return signin_form(request, realm, notice=NOTICES.get(key), notice_warns=key in WARNINGS)
    try:
        form = await read_form(request)
    except RegistrarError as exc:
        return bare_error(exc.status_code, exc.description)
    if not signin_nonce_ok(request, form.get("csrf", [""])[0]):
        return bare_error(403, CSRF_REFUSED)
    client_id = form.get("client_id", [""])[0].strip()
    back = return_path(realm, form.get("next", [""])[0])
    carried = _carried(form)
    try:
        token, lifetime = await sign_in(
            request, realm, client_id, form.get("client_secret", [""])[0]
        )
    except (SignInRefused, TooManyRequests) as exc:
        limited = isinstance(exc, TooManyRequests)
        return signin_form(
            request,
            realm,
            status_code=429 if limited else 401,
            error=exc.description if isinstance(exc, TooManyRequests) else str(exc),
            client_id=client_id,
            next=back,
            carried=[(k, v) for k, values in carried.items() for v in values],
        )
    response = await _after_signin(request, realm, token, back, carried)
    set_cookie(request, response, SESSION_COOKIE, token, max_age=lifetime)
    clear_cookie(request, response, SIGNIN_COOKIE)
    return response


def _carried(form: dict[str, list[str]]) -> dict[str, list[str]]:
    """The fields of the interrupted form, sent back by the sign-in page as `carry.NAME`."""
    return {
        name.removeprefix("carry."): values
        for name, values in form.items()
        if name.startswith("carry.") and name.removeprefix("carry.") not in NOT_CARRIED
    }


async def _after_signin(
    request: Request,
    realm: RealmConfig,
    token: str,
    back: str | None,
    carried: dict[str, list[str]],
) -> Response:
    """The console's home; or the page the session ended on; or its form, filled with what
    was typed (shown, not submitted)."""
    if back is None:
        return redirect(console_path(realm.name) + "/")
    rest = back[len(console_path(realm.name)) :]
    caller = await session_of_token(request, realm, token)
    for pattern, handler in REFILLABLE:
        match = pattern.fullmatch(rest)
        if match is None or caller is None or not carried:
            continue
        csrf = await csrf_token(request, realm, token)
        page = Page(request, realm, caller, carried, csrf, match.groupdict(), refill=True)
        try:
            return await handler(page)
        except PAGE_ERRORS as caught:
            error = page_error(caught)
            return page.error(error.status_code, error.description)
        except FormError as exc:
            return page.error(400, str(exc))
    return redirect(back)


def signin_form(
    request: Request, realm: RealmConfig, status_code: int = 200, **extra: Any
) -> Response:
    nonce = new_signin_nonce()
    response = render(
        "signin.html",
        status_code,
        base=console_path(realm.name),
        realm=realm.name,
        csrf=nonce,
        people_sign_in=realm.login is not None,  # the realm signs people in
        **extra,
    )
    set_cookie(request, response, SIGNIN_COOKIE, nonce, max_age=3600)
    return response


@signed_in
async def signout(page: Page) -> Response:
    await sign_out(page.request, page.realm, page.caller)
    response = redirect(f"{page.base}/signin?notice=signed-out")
    clear_cookie(page.request, response, SESSION_COOKIE)
    if page.person:
        # as Keycloak's console does: the person's sign-in at the realm ends too
        await end_realm_session(page.request, page.realm, response, page.caller.user)
    return response


@signed_in
async def home(page: Page) -> Response:
    if page.can(TO_VIEW_CLIENTS) or page.person:
        return redirect(f"{page.base}/clients")  # a person's own clients: "My clients"
    if page.can(TO_CREATE_CLIENTS):
        return redirect(f"{page.base}/new")
    if page.can(TO_VIEW_USERS):
        return redirect(f"{page.base}/users")
    return redirect(f"{page.base}/events")


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


def client_id_of(page: Page) -> str:
    # no length check here: the services answer 404 for an id that names no client
    client_id: str = page.params["client_id"]
    return client_id


# --- initial access tokens -------------------------------------------------------------------


def _whole_number(page: Page, name: str, label: str, default: int, problems: forms.Problems) -> int:
    raw = page.field(name).strip()
    if not raw:
        return default
    value = whole_number(raw, max_digits=10)
    if value is None:
        problems.add(label, "must be a whole number of at most 10 digits")
        return default
    return value


async def _tokens_page(page: Page, status_code: int = 200, **extra: Any) -> Response:
    listed = await page.admin.list_initial_access_tokens(page.realm, page.caller)
    values = {"expiration": "86400", "count": "1"}
    if page.form:
        values = {name: page.field(name) for name in values}
    return page.show("tokens.html", status_code, tokens=listed, values=values, **extra)


@signed_in
@refillable(r"/tokens")
async def tokens(page: Page) -> Response:
    if not page.posted:
        return await _tokens_page(page)
    problems = forms.Problems()
    body = {"expiration": _whole_number(page, "expiration", "Expiration", 0, problems)}
    body["count"] = _whole_number(page, "count", "Count", 1, problems)
    if problems.found:
        return await _tokens_page(page, 400, form_errors=problems.found)
    try:
        created = await page.admin.create_initial_access_token(page.realm, page.caller, body, now())
    except InvalidRequest as exc:
        return await _tokens_page(page, 400, form_errors=[exc.description])
    return await _tokens_page(page, 201, created=created)


@signed_in
@refillable(r"/tokens/(?P<id>[^/]+)/delete")
async def token_delete(page: Page) -> Response:
    """A GET, or a POST without `confirm=yes`, shows what will be deleted; only the
    confirmation's POST deletes."""
    token_id = page.params["id"]
    if page.posted and page.field("confirm") == "yes":
        await page.admin.delete_initial_access_token(page.realm, page.caller, token_id)
        return redirect(f"{page.base}/tokens?notice=token-deleted")
    require_role(page.caller, TO_MANAGE_CLIENTS)
    listed = await page.admin.list_initial_access_tokens(page.realm, page.caller)
    token = next((t for t in listed if t["id"] == token_id), None)
    if token is None:
        raise NotFound(f"Initial access token '{token_id[:64]}' not found")
    return page.show(
        "confirm_delete.html",
        what="initial access token",
        title=f"Delete initial access token {token_id}?",
        action=f"{page.base}/tokens/{quote(token_id)}/delete",
        cancel=f"{page.base}/tokens",
        facts=[
            ("Id", token["id"]),
            ("Created", utc(token["timestamp"])),
            ("Remaining registrations", str(token["remainingCount"])),
        ],
        consequence="Nobody can register a client with this token any more.",
        section="tokens",
    )


# --- registration policies -------------------------------------------------------------------


def policy_settings(policy: PolicyConfig) -> list[tuple[str, str]]:
    """A policy's settings as the realm file spells them, values in words."""
    shown: list[tuple[str, str]] = []
    for key, value in policy.model_dump(by_alias=True, exclude={"type", "name"}).items():
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, list | tuple):
            text = ", ".join(str(v) for v in value) or "(none)"
        else:
            text = str(value)
        shown.append((key, text))
    return shown


@signed_in
async def policies(page: Page) -> Response:
    """The realm's registration policies, read-only: why a registration was refused."""
    require_role(page.caller, TO_VIEW_CLIENTS)
    registration = page.realm.registration
    sets = [
        ("Anonymous registration", "anonymous", registration.anonymous),
        ("Authenticated registration", "authenticated", registration.authenticated),
    ]
    return page.show(
        "policies.html",
        sets=[
            (title, key, [(p.type, p.name, policy_settings(p)) for p in found])
            for title, key, found in sets
        ],
        rotate=registration.rotate_registration_access_token,
        scopes=page.realm.scopes,
    )


EVENT_KINDS = tuple(
    f"{step}{error}"
    for step in (
        "CLIENT_REGISTER",
        "CLIENT_INFO",
        "CLIENT_UPDATE",
        "CLIENT_DELETE",
        "CLIENT_LOGIN",
        "CODE_TO_TOKEN",
        "REFRESH_TOKEN",
        "INTROSPECT_TOKEN",
        "REVOKE_GRANT",
        "LOGIN",
        "LOGOUT",
    )
    for error in ("", "_ERROR")
)


@signed_in
async def events(page: Page) -> Response:
    """The realm's latest events, newest first, of one type or every type."""
    chosen = page.request.query_params.get("type", "")
    if chosen and chosen not in EVENT_KINDS:
        raise FormError("Show one of the listed event types.")
    query = {"max": "100", "type": [chosen] if chosen else []}
    listed = await container_of(page.request).events.list_events(page.realm, page.caller, query)
    return page.show(
        "events.html",
        events=listed,
        kinds=EVENT_KINDS,
        chosen=chosen,
        enabled=page.realm.events.enabled,
    )


# --- new client (INDIGO IAM's dashboard flow) -------------------------------------------------


def offered_scopes(page: Page) -> list[str]:
    """The realm's scopes; restricted ones only for manage-clients."""
    scopes = page.realm.scopes
    restricted = scopes.restricted if MANAGE_CLIENTS in page.caller.roles else ()
    return list(dict.fromkeys(scopes.default + scopes.optional + restricted))


def metadata_from_form(page: Page) -> dict[str, Any]:
    """RFC 7591 metadata from the form: name, redirect URIs, scopes, grants, client type;
    FormError with every problem of the form."""
    problems = forms.Problems()
    name = forms.client_name(page.field("client_name"), problems)
    uris = forms.redirect_uris(page.field("redirect_uris"), problems)
    scopes = forms.scopes(page.form.get("scope", []), offered_scopes(page), problems)
    if problems.found:
        raise FormError(*problems.found)
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


def _new_form(page: Page, status_code: int = 200, errors: list[str] | None = None) -> Response:
    filled = bool(page.form)
    return page.show(
        "new_client.html",
        status_code,
        scopes=offered_scopes(page),
        restricted=page.realm.scopes.restricted,
        checked=set(page.form.get("scope", [])) if filled else set(page.realm.scopes.default),
        grants=set(page.form.get("grant_type", [])) if filled else {"authorization_code"},
        values={k: page.field(k) for k in ("client_name", "redirect_uris", "client_type")},
        form_errors=errors,
    )


@signed_in
@refillable(r"/new")
async def new_client(page: Page) -> Response:
    page.registrations.check_may_register(page.caller)
    if not page.posted:
        return _new_form(page)
    try:
        body = metadata_from_form(page)
        reply = await page.registrations.register(page.realm, page.caller, body, now())
    except FormError as exc:
        return _new_form(page, 400, exc.problems)
    except RegistrarError as exc:
        return _new_form(page, exc.status_code, [exc.description])
    return page.show(
        "registered.html",
        201,
        reply=reply,
        client_json=json.dumps(reply, indent=2, ensure_ascii=False),
    )
