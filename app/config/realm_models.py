"""Typed realm configuration (docs/reference.md §2): frozen pydantic models a realm file becomes.

Policy models keep Keycloak's provider ids and kebab-case config keys, so a Keycloak admin
reads a realm file as the "Client Registration Policies" tab. Loading lives in app/config/realms.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

REALM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")

# Keycloak's DefaultClientRegistrationPolicies.DEFAULT_ALLOWED_PROTOCOL_MAPPERS
DEFAULT_PROTOCOL_MAPPER_TYPES: tuple[str, ...] = (
    "oidc-full-name-mapper",
    "oidc-sha256-pairwise-sub-mapper",
    "oidc-address-mapper",
    "saml-user-property-mapper",
    "oidc-usermodel-property-mapper",
    "saml-role-list-mapper",
    "saml-user-attribute-mapper",
    "oidc-usermodel-attribute-mapper",
)
DEFAULT_SCOPES: tuple[str, ...] = ("openid", "profile", "email")
DEFAULT_OPTIONAL_SCOPES: tuple[str, ...] = ("address", "phone", "offline_access")

Role = Literal[
    "manage-clients", "view-clients", "create-client", "view-events", "view-users", "manage-users"
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Policy(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=lambda n: n.replace("_", "-"),
        populate_by_name=True,
    )


class TrustedHosts(_Policy):
    type: Literal["trusted-hosts"] = "trusted-hosts"
    name: str = "Trusted Hosts"
    # IP addresses, hostnames, or "*.domain" (the domain and every subdomain of it)
    trusted_hosts: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    host_sending_registration_request_must_match: bool = True
    client_uris_must_match: bool = True

    @model_validator(mode="after")
    def _one_check_enabled(self) -> TrustedHosts:
        # Keycloak's TrustedHostClientRegistrationPolicyFactory.validateConfiguration refuses this
        if not (self.host_sending_registration_request_must_match or self.client_uris_must_match):
            raise ValueError(
                "At least one of hosts verification or client URIs validation must be enabled"
            )
        return self


class MaxClients(_Policy):
    type: Literal["max-clients"] = "max-clients"
    name: str = "Max Clients Limit"
    max_clients: int = Field(default=200, ge=1)


class ConsentRequired(_Policy):
    type: Literal["consent-required"] = "consent-required"
    name: str = "Consent Required"


class FullScopeDisabled(_Policy):
    type: Literal["scope"] = "scope"
    name: str = "Full Scope Disabled"


class ClientDisabled(_Policy):
    type: Literal["client-disabled"] = "client-disabled"
    name: str = "Client Disabled"


class AllowedClientScopes(_Policy):
    # "allowed-client-templates" is the provider id Keycloak used before client scopes existed
    type: Literal["allowed-client-scopes", "allowed-client-templates"] = "allowed-client-scopes"
    name: str = "Allowed Client Scopes"
    allowed_client_scopes: tuple[str, ...] = Field(
        default=(),
        # the config key of Keycloak's old allowed-client-templates policy is accepted too
        validation_alias=AliasChoices(
            "allowed-client-scopes", "allowed-client-templates", "allowed_client_scopes"
        ),
    )
    # also allow the realm's `scopes.default` (Keycloak's ALLOW_DEFAULT_SCOPES, default true)
    allow_default_scopes: bool = True


class AllowedProtocolMappers(_Policy):
    type: Literal["allowed-protocol-mappers"] = "allowed-protocol-mappers"
    name: str = "Allowed Protocol Mapper Types"
    allowed_protocol_mapper_types: tuple[str, ...] = DEFAULT_PROTOCOL_MAPPER_TYPES


PolicyConfig = Annotated[
    TrustedHosts
    | MaxClients
    | ConsentRequired
    | FullScopeDisabled
    | ClientDisabled
    | AllowedClientScopes
    | AllowedProtocolMappers,
    Field(discriminator="type"),
]


def default_anonymous_policies(optional_scopes: tuple[str, ...]) -> tuple[PolicyConfig, ...]:
    """Keycloak's DefaultClientRegistrationPolicies.addAnonymousPolicies, in its order."""
    return (
        TrustedHosts(),  # no trusted hosts: anonymous registration is off
        ConsentRequired(),
        FullScopeDisabled(),
        MaxClients(),
        *default_authenticated_policies(optional_scopes),
    )


def default_authenticated_policies(optional_scopes: tuple[str, ...]) -> tuple[PolicyConfig, ...]:
    # Keycloak allows the realm's default *and* optional client scopes by allow-default-scopes;
    # here allow-default-scopes covers `scopes.default`, so the optional ones are listed.
    return (
        AllowedProtocolMappers(),
        AllowedClientScopes(allowed_client_scopes=optional_scopes),
    )


class RegistrationConfig(_Frozen):
    rotate_registration_access_token: bool = True
    # filled with Keycloak's default sets by RealmConfig when the file has no such key
    anonymous: tuple[PolicyConfig, ...]
    authenticated: tuple[PolicyConfig, ...]


def _check_scope_tokens(value: tuple[str, ...]) -> tuple[str, ...]:
    for scope in value:
        if not _SCOPE_TOKEN.match(scope):
            raise ValueError(f"{scope!r} is not a valid scope name (RFC 6749 §3.3)")
    return value


class ScopesConfig(_Frozen):
    default: tuple[str, ...] = DEFAULT_SCOPES
    optional: tuple[str, ...] = DEFAULT_OPTIONAL_SCOPES
    restricted: tuple[str, ...] = ()

    @field_validator("default", "optional", "restricted")
    @classmethod
    def _no_duplicates(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        _check_scope_tokens(value)
        # fields validate in declaration order, so info.data holds the lists before this one
        seen = [s for earlier in info.data.values() for s in earlier]
        for i, scope in enumerate(value):
            if scope in seen or scope in value[:i]:
                raise ValueError(f"scope {scope!r} is listed twice")
        return value


class ServiceAccount(_Frozen):
    client_id: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    roles: tuple[Role, ...] = ()


class TrustedIssuer(_Frozen):
    issuer: str
    jwks_uri: str | None = None
    jwks: dict[str, Any] | None = None

    @field_validator("issuer", "jwks_uri")
    @classmethod
    def _absolute_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("https", "http") or not parts.netloc:
                raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value

    @field_validator("jwks")
    @classmethod
    def _has_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("keys"), list):
            raise ValueError("a JWK Set has a `keys` list (RFC 7517 §5)")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedIssuer:
        if (self.jwks_uri is None) == (self.jwks is None):
            raise ValueError("give exactly one of jwks_uri and jwks")
        return self


class CorsConfig(_Frozen):
    # origins (scheme://host[:port]) whose browsers may call the realm's registration, token,
    # discovery and JWKS endpoints; "*" for any; default none (app/web/cors.py)
    allowed_origins: tuple[str, ...] = ()

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("https", "http") or not parts.hostname or origin.endswith("/"):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]) or *")
            if parts.path or parts.query or parts.fragment or parts.username is not None:
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]) or *")
        return value


class LoginUser(_Frozen):
    """A local account of the realm file: signs in at the realm's login page."""

    username: str = Field(min_length=1, max_length=200)
    # argon2id (RFC 9106), as `registrar users hash-password` prints it; never the password
    password_hash: str = Field(pattern=r"^\$argon2id\$")
    email: str | None = None
    name: str | None = None
    roles: tuple[Role, ...] = ()  # realm-management roles its access tokens carry


class UpstreamProvider(_Frozen):
    """An upstream OpenID provider users may sign in with (Keycloak's identity brokering):
    the code flow with PKCE, state and nonce, its ID token verified by its JWKS."""

    # the callback is /realms/{realm}/broker/{alias}/endpoint (Keycloak's path)
    alias: str = Field(pattern=REALM_NAME.pattern)
    display_name: str | None = Field(default=None, max_length=100)  # default: the alias
    issuer: str  # its discovery document is read from {issuer}/.well-known/openid-configuration
    client_id: str = Field(min_length=1)
    client_secret: str | None = None  # None: a public client of the upstream (PKCE alone)
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    username_claim: str = "preferred_username"

    @field_validator("issuer")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if parts.query or parts.fragment:
            # OIDC Discovery §2: an issuer is a URL "with no query or fragment components"
            raise ValueError(f"{value!r}: an issuer has no query or fragment")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "openid" not in value:
            raise ValueError("the upstream's scopes must include openid (its ID token)")
        for scope in value:
            if _SCOPE_TOKEN.match(scope) is None:
                raise ValueError(f"{scope!r} is not a scope token (RFC 6749 §3.3)")
        return value

    @property
    def label(self) -> str:
        return self.display_name or self.alias


class LoginConfig(_Frozen):
    users: tuple[LoginUser, ...] = ()
    upstream: UpstreamProvider | None = None

    @field_validator("users")
    @classmethod
    def _unique_usernames(cls, value: tuple[LoginUser, ...]) -> tuple[LoginUser, ...]:
        seen: set[str] = set()
        for user in value:
            if user.username in seen:
                raise ValueError(f"user {user.username!r} is listed twice")
            seen.add(user.username)
        return value

    def user(self, username: str) -> LoginUser | None:
        return next((u for u in self.users if u.username == username), None)


class TokensConfig(_Frozen):
    """Lifetimes in seconds, and the algorithm of access and ID tokens (docs/reference.md §6)."""

    access_token_lifespan: int = Field(default=300, ge=1)
    code_lifespan: int = Field(default=60, ge=1)
    refresh_token_lifespan: int = Field(default=1800, ge=1)  # idle: each use rotates it
    # access and ID tokens, client_credentials tokens too; RS256 is Keycloak's default
    signing_alg: Literal["RS256", "ES256", "EdDSA"] = "RS256"


_RATE = re.compile(r"^\s*([1-9][0-9]{0,8})\s*/\s*(second|minute|hour|day)\s*$")
_PER = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class RateLimitsConfig(_Frozen):
    # "N/second|minute|hour|day", across every process sharing the database (app/services/
    # rate_limits.py); absent: no limit
    anonymous_registration: str | None = None  # per client address
    token: str | None = None  # per client
    sign_in: str | None = None  # per client address and account

    @field_validator("anonymous_registration", "token", "sign_in")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None and _RATE.match(value) is None:
            raise ValueError(f"{value!r} is not a rate like 20/minute (second, minute, hour, day)")
        return value

    def limit(self, kind: str) -> tuple[int, int] | None:
        """(requests, window in seconds) of `kind`, or None when it has no limit."""
        value = getattr(self, kind)
        if value is None:
            return None
        match = _RATE.match(value)
        assert match is not None  # checked at load
        return int(match.group(1)), _PER[match.group(2)]


_DURATION = re.compile(r"^\s*([1-9][0-9]{0,6})\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class EventsConfig(_Frozen):
    # record what happens to the realm's clients under Keycloak's event names (app/services/
    # events.py), kept for `retention` ("30d", "12h", "90m", "3600s")
    enabled: bool = False
    retention: str = "30d"

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        if _DURATION.match(value) is None:
            raise ValueError(f"{value!r} is not a duration like 30d, 12h, 90m or 3600s")
        return value

    @property
    def retention_seconds(self) -> int:
        match = _DURATION.match(self.retention)
        assert match is not None  # checked at load
        return int(match.group(1)) * _UNIT[match.group(2)]


class ClientExpiryConfig(_Frozen):
    # a registered client unused this long (no token, no registration read or update) is deleted
    # by the scheduler ("90d", "12h"); dry_run: only logged and recorded as events
    unused_after: str | None = None
    dry_run: bool = False
    # spared: clients registered by a bearer holding manage-clients (an admin meant them to stay),
    # and, when asked, clients registered for client_credentials (service accounts, which may
    # ask for a token rarely); not by default, since anonymous registration could otherwise make
    # clients that never expire
    exempt_admin_created: bool = True
    exempt_service_accounts: bool = False

    @field_validator("unused_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and _DURATION.match(value) is None:
            raise ValueError(f"{value!r} is not a duration like 90d, 12h, 90m or 3600s")
        return value

    @property
    def unused_seconds(self) -> int | None:
        match = _DURATION.match(self.unused_after) if self.unused_after else None
        return int(match.group(1)) * _UNIT[match.group(2)] if match else None


class SoftwareStatementsConfig(_Frozen):
    # RFC 7591 §2.3: signed statements of trusted vendors (app/auth/software_statements.py)
    required: bool = False  # true: a registration without a valid statement is refused
    # which policy set a registration carrying a valid statement runs through
    policy_set: Literal["anonymous", "authenticated"] = "anonymous"
    trusted_issuers: tuple[TrustedIssuer, ...] = ()


DEFAULT_DEDUPLICATION_WINDOW = "10m"


class DeduplicateConfig(_Frozen):
    # an anonymous public client registering the same metadata again from the same address
    # within `window` gets its earlier client back (app/services/deduplication.py)
    window: str = DEFAULT_DEDUPLICATION_WINDOW

    @field_validator("window")
    @classmethod
    def _duration(cls, value: str) -> str:
        if _DURATION.match(value) is None:
            raise ValueError(f"{value!r} is not a duration like 10m, 1h or 600s")
        return value

    @property
    def window_seconds(self) -> int:
        match = _DURATION.match(self.window)
        assert match is not None  # checked at load
        return int(match.group(1)) * _UNIT[match.group(2)]


class CompatConfig(_Frozen):
    # serve INDIGO IAM's /iam/api/client-registration API for this realm (app/services/indigo.py)
    indigo_iam: bool = False


class ClientDocumentsConfig(_Frozen):
    """Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a client_id
    that is an https URL names the client's metadata, fetched from it (docs/reference.md §7)."""

    enabled: bool = False
    # host names the documents may live at, "*.domain" for a domain and its subdomains; empty:
    # any public https host
    allowed_hosts: tuple[str, ...] = ()
    # development only: documents at http://127.0.0.1:PORT/... (and [::1], localhost)
    allow_loopback_http: bool = False
    # seconds a fetch may take; lower it only to make tests quick
    fetch_timeout: float = Field(default=5.0, gt=0, le=5.0)


class RealmConfig(_Frozen):
    name: str = Field(pattern=REALM_NAME.pattern)
    enabled: bool = True
    registration: RegistrationConfig
    scopes: ScopesConfig = ScopesConfig()
    service_accounts: tuple[ServiceAccount, ...] = ()
    trusted_issuers: tuple[TrustedIssuer, ...] = ()
    compat: CompatConfig = CompatConfig()
    cors: CorsConfig = CorsConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()
    events: EventsConfig = EventsConfig()
    client_expiry: ClientExpiryConfig = ClientExpiryConfig()
    login: LoginConfig | None = None  # None: nobody can sign in to the realm
    tokens: TokensConfig = TokensConfig()
    software_statements: SoftwareStatementsConfig = SoftwareStatementsConfig()
    # `true` for the default window, `{window: 10m}`, or `false` / absent: off
    deduplicate: DeduplicateConfig | None = None

    @field_validator("deduplicate", mode="before")
    @classmethod
    def _deduplicate_flag(cls, value: Any) -> Any:
        if value is True:
            return {}
        if value is False:
            return None
        return value

    client_id_metadata_documents: ClientDocumentsConfig = ClientDocumentsConfig()

    @model_validator(mode="before")
    @classmethod
    def _default_policy_sets(cls, data: Any) -> Any:
        """Give a realm without `registration.anonymous` / `.authenticated` Keycloak's sets."""
        if not isinstance(data, dict):
            return data
        registration = data.get("registration", {})
        if not isinstance(registration, dict):
            return data  # pydantic names the wrong type
        optional = DEFAULT_OPTIONAL_SCOPES
        scopes = data.get("scopes")
        if isinstance(scopes, dict) and isinstance(scopes.get("optional"), list | tuple):
            if all(isinstance(s, str) for s in scopes["optional"]):
                optional = tuple(scopes["optional"])
        registration = dict(registration)
        registration.setdefault("anonymous", default_anonymous_policies(optional))
        registration.setdefault("authenticated", default_authenticated_policies(optional))
        return {**data, "registration": registration}

    @field_validator("service_accounts")
    @classmethod
    def _unique_client_ids(cls, value: tuple[ServiceAccount, ...]) -> tuple[ServiceAccount, ...]:
        seen: set[str] = set()
        for account in value:
            if account.client_id in seen:
                raise ValueError(f"service account {account.client_id!r} is listed twice")
            seen.add(account.client_id)
        return value

    @property
    def all_scopes(self) -> tuple[str, ...]:
        """Every scope of the realm: default, optional, then restricted."""
        return self.scopes.default + self.scopes.optional + self.scopes.restricted
