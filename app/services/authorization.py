"""The authorization endpoint's use case (RFC 6749 §4.1, RFC 7636, RFC 9207, OIDC Core §3.1):
read and judge the request, sign a local user in, remember consent, issue the code.

Until the client and its redirect URI are known good, a bad request is a BadAuthorizationRequest
(an HTML page, never a redirect: RFC 6749 §4.1.2.1); after, an ErrorRedirect to the client.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from app.auth.keyring import Keyring
from app.auth.passwords import verify_password
from app.auth.secret_values import token_digest
from app.auth.tokens import verify_own_access_token
from app.config.realm_models import RealmConfig
from app.errors import InvalidToken
from app.rules.authorization_request import (
    prompt_problem,
    redirect_uri_matches,
    resource_problem,
    valid_code_challenge,
)
from app.services.client_documents import ClientDocuments, DocumentRefused
from app.services.people import People, Person
from app.store.queries import ClientRow, Store, is_key
from app.store.signin import CodeRow, SigninStore
from app.store.signin import SessionRow as SessionRow  # the web layer names it from here

# (realm, client id, the realm's issuer) -> a built-in client's row, or None
BuiltinClient = Callable[[str, str, str], ClientRow | None]
SESSION_SECONDS = 8 * 3600  # a sign-in session lasts a working day, then the user signs in again


class BadAuthorizationRequest(Exception):
    """The client or its redirect URI is not known good: shown to the user, status 400."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class AuthorizationResponse:
    """What goes back to the client (RFC 6749 §4.1.2): its redirect URI and the parameters, in
    the query, or with response_mode=form_post in a form the browser posts there (OAuth 2.0
    Form Post Response Mode §2)."""

    redirect_uri: str
    params: tuple[tuple[str, str], ...]
    form_post: bool = False

    @property
    def url(self) -> str:
        return with_query(self.redirect_uri, dict(self.params))


class ErrorRedirect(Exception):
    """RFC 6749 §4.1.2.1: the error goes back to the client at its redirect URI."""

    def __init__(self, response: AuthorizationResponse) -> None:
        super().__init__(response.url)
        self.response = response
        self.url = response.url


class LoginFailed(Exception):
    """Wrong username or password: which of the two is never said."""


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    client_name: str
    redirect_uri: str
    state: str | None
    scope: str
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    resources: tuple[str, ...]
    consent_required: bool
    params: tuple[tuple[str, str], ...]  # as received, for the forms that carry it on
    max_age: int | None = None  # OIDC Core §3.1.2.1: seconds a sign-in may be old
    login_hint: str | None = None  # the username to offer on the login page
    form_post: bool = False  # response_mode=form_post

    @property
    def redirect_host(self) -> str:
        return urlsplit(self.redirect_uri).hostname or ""


def with_query(uri: str, params: dict[str, str | None]) -> str:
    """`uri` with `params` added to its query (RFC 6749 §4.1.2: the query component "MUST be
    retained when adding additional query parameters")."""
    parts = urlsplit(uri)
    added = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class Authorization:
    def __init__(
        self,
        store: Store,
        signin: SigninStore,
        keyring: Keyring,
        issuer: Callable[[str], str],
        people: People,
        documents: ClientDocuments | None = None,
        builtin: BuiltinClient | None = None,
    ) -> None:
        self._builtin = builtin  # clients of the server itself (the console), not stored
        self._store = store
        self._documents = documents  # clients named by their metadata document's URL
        self._signin = signin
        self._keyring = keyring
        self._issuer = issuer
        self._people = people

    async def _client(self, realm: RealmConfig, client_id: str) -> ClientRow | None:
        """A registered client, or one named by its metadata document's URL."""
        if not is_key(client_id):
            return None
        if self._documents is None:
            return await self._store.get_client(realm.name, client_id)
        try:
            return await self._documents.find(realm, client_id)
        except DocumentRefused as exc:
            # draft-ietf-oauth-client-id-metadata-document: a document that cannot be used is
            # an unknown client: shown to the user, never a redirect (RFC 6749 §4.1.2.1)
            raise BadAuthorizationRequest(exc.description) from exc

    def error_response(
        self,
        realm: RealmConfig,
        redirect_uri: str,
        error: str,
        description: str,
        state: str | None,
        form_post: bool = False,
    ) -> AuthorizationResponse:
        # RFC 9207 §2: "Authorization servers supporting this specification MUST provide their
        # issuer identifier to clients in authorization responses" — error responses included
        params = {
            "error": error,
            "error_description": description,
            "state": state,
            "iss": self._issuer(realm.name),
        }
        return _response(redirect_uri, params, form_post)

    async def read_request(
        self, realm: RealmConfig, pairs: list[tuple[str, str]]
    ) -> AuthorizationRequest:
        params: dict[str, list[str]] = {}
        for name, value in pairs:
            if "\x00" in name or "\x00" in value:
                # no parameter of the protocol holds a NUL, and the database would refuse one
                # in what this request stores (its code's nonce, state or scope): a clear 400
                raise BadAuthorizationRequest("A parameter of the request holds a NUL character.")
            params.setdefault(name, []).append(value)

        def single(name: str) -> str | None:
            values = params.get(name)
            return values[0] if values and len(values) == 1 else None

        client_id = single("client_id")
        if not client_id:
            raise BadAuthorizationRequest("The request names no client (client_id), or two.")
        issuer = self._issuer(realm.name)
        row = self._builtin(realm.name, client_id, issuer) if self._builtin else None
        if row is None:
            row = await self._client(realm, client_id)
        if row is None:
            raise BadAuthorizationRequest("The client is not registered at this realm.")
        if not row.enabled:
            raise BadAuthorizationRequest("The client is disabled: nobody can sign in to it.")
        metadata = row.metadata()
        redirect_uri = single("redirect_uri")
        if not redirect_uri:
            raise BadAuthorizationRequest("The request has no redirect_uri, or two.")
        registered = [u for u in metadata.get("redirect_uris", ()) if isinstance(u, str)]
        if not redirect_uri_matches(redirect_uri, registered):
            # RFC 6749 §4.1.2.1: "the authorization server SHOULD inform the resource owner of
            # the error and MUST NOT automatically redirect the user-agent to the invalid
            # redirection URI."
            raise BadAuthorizationRequest("The redirect_uri is not registered for this client.")

        state = single("state")
        response_mode = single("response_mode")
        form_post = response_mode == "form_post"

        def refuse(error: str, description: str) -> ErrorRedirect:
            return ErrorRedirect(
                self.error_response(realm, redirect_uri, error, description, state, form_post)
            )

        # RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than
        # once"; RFC 8707 §2 lets resource appear several times
        for name, values in params.items():
            if len(values) > 1 and name != "resource":
                raise refuse("invalid_request", f"Parameter {name} is repeated"[:200])
        response_type = single("response_type")
        if response_type != "code":
            if not response_type:
                raise refuse("invalid_request", "response_type is required")
            raise refuse("unsupported_response_type", "Only response_type=code is supported")
        if response_mode not in (None, "query", "form_post"):
            raise refuse("invalid_request", "response_mode must be query or form_post")
        # OIDC Core §6.1, §6.2: a server that does not support request objects says so
        if "request" in params:
            raise refuse("request_not_supported", "Request objects are not supported")
        if "request_uri" in params:
            raise refuse("request_uri_not_supported", "request_uri is not supported")
        if "authorization_code" not in metadata.get("grant_types", ("authorization_code",)):
            raise refuse("unauthorized_client", "The client is not registered for the code flow")
        public = metadata.get("token_endpoint_auth_method") == "none"
        challenge = single("code_challenge")
        method = single("code_challenge_method")
        if challenge is None:
            if method is not None:
                raise refuse("invalid_request", "code_challenge_method without code_challenge")
            if public:
                # OAuth 2.1 §4.1.1 / RFC 9700 §2.1.1: public clients MUST use PKCE
                raise refuse("invalid_request", "PKCE (code_challenge, S256) is required")
        else:
            if method != "S256":
                # RFC 7636 §4.2 allows plain; RFC 9700 §2.1.1: S256 only
                raise refuse("invalid_request", "code_challenge_method must be S256")
            if not valid_code_challenge(challenge):
                raise refuse("invalid_request", "code_challenge is not an S256 challenge")
        allowed = str(metadata.get("scope") or "").split()
        asked = (single("scope") or "").split() or allowed
        unknown = [s for s in asked if s not in allowed]
        if unknown:
            raise refuse("invalid_scope", f"Scope not available to this client: {unknown[0]}"[:200])
        resources = tuple(params.get("resource", ()))
        for resource in resources:
            problem = resource_problem(resource)
            if problem:
                # RFC 8707 §2: "invalid_target"
                raise refuse("invalid_target", problem)
        prompt = single("prompt") or ""
        problem = prompt_problem(prompt)
        if problem:
            raise refuse("invalid_request", problem)
        max_age_text = single("max_age")
        max_age = None
        if max_age_text is not None:
            if not max_age_text.isascii() or not max_age_text.isdigit() or len(max_age_text) > 9:
                raise refuse("invalid_request", "max_age must be a whole number of seconds")
            max_age = int(max_age_text)
        return AuthorizationRequest(
            client_id=client_id,
            client_name=str(metadata.get("client_name") or client_id),
            redirect_uri=redirect_uri,
            state=state,
            scope=" ".join(dict.fromkeys(asked)),
            nonce=single("nonce"),
            code_challenge=challenge,
            prompt=frozenset(prompt.split()),
            resources=resources,
            consent_required=row.consent_required,
            params=tuple(pairs),
            max_age=max_age,
            login_hint=(single("login_hint") or "")[:200] or None,
            form_post=form_post,
        )

    def refuse(
        self, realm: RealmConfig, request: AuthorizationRequest, error: str, description: str
    ) -> AuthorizationResponse:
        return self.error_response(
            realm, request.redirect_uri, error, description, request.state, request.form_post
        )

    def needs_login(
        self, request: AuthorizationRequest, session: SessionRow | None, now: int
    ) -> bool:
        """Whether the user must enter their password now: nobody signed in, prompt=login,
        or a sign-in older than max_age (OIDC Core §3.1.2.1: "the OP MUST attempt to actively
        re-authenticate the End-User")."""
        if session is None or "login" in request.prompt:
            return True
        return request.max_age is not None and now - session.auth_time > request.max_age

    # --- sessions ------------------------------------------------------------------------------

    async def person(self, realm: RealmConfig, subject: str) -> Person | None:
        """Who a session's subject is: a local account or a brokered user."""
        return await self._people.find(realm, subject)

    async def session(
        self, realm: RealmConfig, session_id: str | None, now: int
    ) -> SessionRow | None:
        if not session_id or len(session_id) > 200:
            return None
        found = await self._signin.get_session(realm.name, token_digest(session_id), now)
        if found is None or await self._people.find(realm, found.username) is None:
            return None  # a user removed from the realm file (or its upstream) is signed out
        return found

    async def sign_in(
        self, realm: RealmConfig, username: str, password: str, now: int
    ) -> tuple[str, SessionRow]:
        """A new session for the user; LoginFailed for a wrong username or password alike."""
        user = realm.login.user(username) if realm.login else None
        # an unknown user costs one argon2 verification too, so timing does not tell which
        if not verify_password(user.password_hash if user else None, password) or user is None:
            raise LoginFailed("Invalid username or password.")
        return await self.open_session(realm, user.username, now)

    async def open_session(
        self, realm: RealmConfig, subject: str, now: int
    ) -> tuple[str, SessionRow]:
        """A new sign-in session for the person `subject` names (app/services/people.py)."""
        session_id = secrets.token_urlsafe(32)
        row = SessionRow(subject, now, now + SESSION_SECONDS)
        await self._signin.put_session(
            realm.name, token_digest(session_id), row.username, row.auth_time, row.expires_at
        )
        return session_id, row

    async def sign_out(self, realm: RealmConfig, session_id: str | None) -> None:
        if session_id and len(session_id) <= 200:
            await self._signin.delete_session(realm.name, token_digest(session_id))

    async def logout_target(
        self,
        realm: RealmConfig,
        client_id: str | None,
        id_token_hint: str | None,
        post_logout_redirect_uri: str | None,
        state: str | None,
    ) -> str | None:
        """Where to send the user after logout (OIDC RP-Initiated Logout 1.0 §2-3), or None;
        BadAuthorizationRequest for a redirect URI not registered by the client named."""
        hinted = None
        if id_token_hint:
            try:
                claims = verify_own_access_token(await self._keyring.get(realm.name), id_token_hint)
            except InvalidToken as exc:
                raise BadAuthorizationRequest(
                    "The id_token_hint is not a token of this realm."
                ) from exc
            # an expired ID token still names its client (RP-Initiated Logout §2)
            if claims.get("iss") != self._issuer(realm.name):
                raise BadAuthorizationRequest("The id_token_hint is not a token of this realm.")
            hinted = str(claims.get("azp") or claims.get("aud") or "")
        if client_id and hinted and client_id != hinted:
            raise BadAuthorizationRequest("client_id and id_token_hint name different clients.")
        if not post_logout_redirect_uri:
            return None
        named = client_id or hinted
        if not named:
            raise BadAuthorizationRequest(
                "post_logout_redirect_uri needs client_id or id_token_hint to name the client."
            )
        row = await self._store.get_client(realm.name, named) if is_key(named) else None
        registered = row.metadata().get("post_logout_redirect_uris", []) if row else []
        # RP-Initiated Logout §3: "The value MUST have been previously registered with the OP"
        if row is None or not row.enabled or post_logout_redirect_uri not in registered:
            raise BadAuthorizationRequest(
                "The post_logout_redirect_uri is not registered for this client."
            )
        return with_query(post_logout_redirect_uri, {"state": state})

    # --- consent and the code ------------------------------------------------------------------

    async def needs_consent(
        self, realm: RealmConfig, request: AuthorizationRequest, username: str
    ) -> bool:
        if not request.consent_required:
            return False
        if "consent" in request.prompt:
            return True
        granted = await self._signin.granted_scope(realm.name, username, request.client_id)
        return not set(request.scope.split()) <= granted

    async def remember_consent(
        self, realm: RealmConfig, request: AuthorizationRequest, username: str
    ) -> None:
        await self._signin.grant(
            realm.name, username, request.client_id, set(request.scope.split())
        )

    async def issue_code(
        self, realm: RealmConfig, request: AuthorizationRequest, session: SessionRow, now: int
    ) -> AuthorizationResponse:
        """The answer carrying a fresh code (RFC 6749 §4.1.2), `state` and `iss`."""
        code = secrets.token_urlsafe(32)
        row = CodeRow(
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            code_challenge=request.code_challenge,
            scope=request.scope,
            nonce=request.nonce,
            resource_json=json.dumps(list(request.resources)),
            username=session.username,
            auth_time=session.auth_time,
            expires_at=now + realm.tokens.code_lifespan,
            used_at=0,
            family_id=None,
        )
        await self._signin.put_code(realm.name, token_digest(code), row)
        return _response(
            request.redirect_uri,
            {"code": code, "state": request.state, "iss": self._issuer(realm.name)},
            request.form_post,
        )


def _response(
    redirect_uri: str, params: dict[str, str | None], form_post: bool
) -> AuthorizationResponse:
    present = tuple((name, value) for name, value in params.items() if value is not None)
    return AuthorizationResponse(redirect_uri, present, form_post)
