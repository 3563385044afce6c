"""Keycloak's registration policies as pure functions: tables, no app (docs/reference.md §2)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from app.auth.callers import Caller
from app.config.realm_models import (
    AllowedClientScopes,
    AllowedProtocolMappers,
    ClientDisabled,
    ConsentRequired,
    FullScopeDisabled,
    MaxClients,
    PolicyConfig,
    RealmConfig,
    RegistrationConfig,
    ScopesConfig,
    TrustedHosts,
)
from app.errors import InsufficientScope, InvalidClientMetadata, PolicyRefused
from app.rules.policies import (
    Candidate,
    Operation,
    apply_policies,
    check_known_scopes,
    check_scopes,
    max_clients_refusal,
    policy_set,
)

DNS = {
    "localhost": frozenset({"127.0.0.1", "::1"}),
    "ci.example.net": frozenset({"198.51.100.4", "2001:db8::4"}),
}
ANON = Caller("anonymous", host="203.0.113.7")
AUTH = Caller("bearer", host="203.0.113.7", roles=frozenset({"create-client"}))
ADMIN = Caller("bearer", host="203.0.113.7", roles=frozenset({"manage-clients"}))
IAT = Caller("initial_access_token", host="203.0.113.7")
# Keycloak's rule: a registration access token acts under the set its client registered under
RAT_OF_ANONYMOUS = Caller(
    "registration_access_token", host="203.0.113.7", registered_as="anonymous"
)
RAT_OF_AUTHENTICATED = Caller(
    "registration_access_token", host="203.0.113.7", registered_as="authenticated"
)
WEB = {"redirect_uris": ["https://app.example.org/cb"]}


def resolve(hostname: str) -> frozenset[str]:
    return DNS.get(hostname, frozenset())


def realm_with(
    *anonymous: PolicyConfig,
    authenticated: tuple[PolicyConfig, ...] = (),
    restricted: tuple[str, ...] = (),
) -> RealmConfig:
    return RealmConfig(
        name="r",
        registration=RegistrationConfig(anonymous=anonymous, authenticated=authenticated),
        scopes=ScopesConfig(restricted=restricted),
    )


def run(
    policy: PolicyConfig,
    metadata: Mapping[str, Any] = WEB,
    op: Operation = "create",
    host: str = "203.0.113.7",
    candidate: Candidate | None = None,
) -> Candidate:
    start = replace(candidate or Candidate(metadata={}), metadata=metadata)
    return apply_policies(realm_with(policy), op, start, replace(ANON, host=host), resolve)


def refusal(policy: PolicyConfig, **kwargs: Any) -> str:
    with pytest.raises(PolicyRefused) as caught:
        run(policy, **kwargs)
    return caught.value.description


def keycloak_text(name: str, details: str) -> str:
    return f"Policy '{name}' rejected request to client-registration service. Details: {details}"


# --- trusted-hosts: the request's host ------------------------------------------------------

HOSTS_ONLY = {"client_uris_must_match": False}


@pytest.mark.parametrize(
    ("entries", "host", "trusted"),
    [
        (("203.0.113.7",), "203.0.113.7", True),  # an IP entry equal to the peer
        (("203.0.113.8",), "203.0.113.7", False),
        (("::1",), "::1", True),
        (("[::1]",), "0:0:0:0:0:0:0:1", True),  # brackets and spelling do not matter
        (("127.0.0.1",), "::ffff:127.0.0.1", True),  # IPv4 peer on a dual-stack socket
        (("ci.example.net",), "198.51.100.4", True),  # a hostname entry, resolved
        (("ci.example.net",), "2001:db8::4", True),
        (("CI.Example.NET",), "198.51.100.5", False),
        (("CI.Example.NET.",), "198.51.100.4", True),  # names are case-insensitive
        (("unknown.example.net",), "198.51.100.4", False),  # resolves to nothing
        (("localhost",), "127.0.0.1", True),
        (("localhost",), "::1", True),
        (("*.example.net",), "198.51.100.4", False),  # wildcards need reverse DNS: not done
        (("*.localhost",), "127.0.0.1", True),  # Keycloak calls a loopback peer "localhost"
        ((), "127.0.0.1", False),  # Keycloak's default: anonymous registration off
        (("testclient",), "testclient", True),  # a peer that is not an address: names only
    ],
)
def test_trusted_hosts_checks_the_request_host(
    entries: tuple[str, ...], host: str, trusted: bool
) -> None:
    policy = TrustedHosts(trusted_hosts=entries, **HOSTS_ONLY)
    if trusted:
        run(policy, host=host)
    else:
        assert refusal(policy, host=host) == keycloak_text("Trusted Hosts", "Host not trusted.")


@pytest.mark.parametrize("op", ["create", "update", "read", "delete"])
def test_trusted_hosts_checks_the_host_on_every_operation(op: Operation) -> None:
    policy = TrustedHosts(trusted_hosts=("198.51.100.1",), **HOSTS_ONLY)
    assert "Host not trusted." in refusal(policy, op=op)


def test_trusted_hosts_host_check_can_be_off() -> None:
    policy = TrustedHosts(
        trusted_hosts=("*.example.org",), host_sending_registration_request_must_match=False
    )
    run(policy, host="192.0.2.99")


def test_resolver_errors_count_as_unknown_hosts() -> None:
    def failing(hostname: str) -> frozenset[str]:
        raise OSError("no DNS")

    policy = TrustedHosts(trusted_hosts=("ci.example.net",), **HOSTS_ONLY)
    with pytest.raises(PolicyRefused, match="Host not trusted"):
        apply_policies(realm_with(policy), "create", Candidate(metadata=WEB), ANON, failing)


# --- trusted-hosts: client URIs -------------------------------------------------------------

URIS_ONLY = {"host_sending_registration_request_must_match": False}


@pytest.mark.parametrize(
    ("entries", "uri", "trusted"),
    [
        (("*.example.org",), "https://a.example.org/cb", True),
        (("*.example.org",), "https://x.a.example.org/cb", True),
        (("*.example.org",), "https://example.org/cb", True),  # the domain itself
        (("*.example.org",), "https://evilexample.org/cb", False),
        (("*.example.org",), "https://example.org.evil.net/cb", False),
        (("*.example.org",), "https://A.EXAMPLE.ORG./cb", True),  # case, trailing dot
        (("app.example.org",), "https://app.example.org:8443/cb", True),
        (("app.example.org",), "https://www.app.example.org/cb", False),  # exact names only
        (("localhost",), "http://localhost:3000/cb", True),
        (("127.0.0.1",), "http://127.0.0.1:3000/cb", True),
        (("::1",), "http://[::1]:3000/cb", True),
        (("localhost",), "http://127.0.0.1:3000/cb", False),  # no DNS for client URIs
        (("*.example.org",), "com.example.app:/oauth2redirect", False),  # no host
        (("*.example.org",), "https://user@evil.net/cb", False),
    ],
)
def test_trusted_hosts_checks_redirect_uris(
    entries: tuple[str, ...], uri: str, trusted: bool
) -> None:
    policy = TrustedHosts(trusted_hosts=entries, **URIS_ONLY)
    if trusted:
        run(policy, {"redirect_uris": [uri]})
    else:
        details = f"URI doesn't match any trusted host or trusted domain: {uri}"
        assert refusal(policy, metadata={"redirect_uris": [uri]}) == keycloak_text(
            "Trusted Hosts", details
        )


@pytest.mark.parametrize(
    ("member", "value", "kind"),
    [
        ("post_logout_redirect_uris", ["https://evil.net/bye"], "URI"),
        ("request_uris", ["https://evil.net/req"], "URI"),
        ("client_uri", "https://evil.net/", "URL"),
        ("logo_uri", "https://evil.net/logo.png", "URL"),
        ("logo_uri#ja-Jpan-JP", "https://evil.net/logo.png", "URL"),  # language-tagged
        ("tos_uri", "https://evil.net/tos", "URL"),
        ("policy_uri", "https://evil.net/policy", "URL"),
        ("jwks_uri", "https://evil.net/jwks", "URL"),
        ("initiate_login_uri", "https://evil.net/login", "URL"),
        ("sector_identifier_uri", "https://evil.net/sector", "URL"),
    ],
)
def test_trusted_hosts_checks_every_client_url(member: str, value: Any, kind: str) -> None:
    policy = TrustedHosts(trusted_hosts=("*.example.org",), **URIS_ONLY)
    text = refusal(policy, metadata={**WEB, member: value})
    assert f"{kind} doesn't match any trusted host or trusted domain: https://evil.net/" in text


@pytest.mark.parametrize(
    ("entries", "uri"),
    [
        # urlsplit reads the host evil.com\.example.org; a browser goes to evil.com
        (("*.example.org",), "https://evil.com\\.example.org/cb"),
        # urlsplit reads user "evil.com\" at 127.0.0.1; a browser goes to evil.com
        (("127.0.0.1",), "http://evil.com\\@127.0.0.1:8080/callback"),
        (("127.0.0.1",), "http://0x7f.1:8080/cb"),  # 127.0.0.1 to a browser, a name to urlsplit
        (("*.example.org",), "https://%65vil.example.org/cb"),
        (("*.example.org",), "https://*.example.org/cb"),
        (("*.example.org",), "https:///app.example.org/cb"),
    ],
)
def test_trusted_hosts_refuses_a_uri_browsers_read_otherwise(
    entries: tuple[str, ...], uri: str
) -> None:
    policy = TrustedHosts(trusted_hosts=entries, **URIS_ONLY)
    text = refusal(policy, metadata={"redirect_uris": [uri]})
    assert text == keycloak_text("Trusted Hosts", "URI is malformed")


@pytest.mark.parametrize(
    ("entries", "uri"),
    [
        (("bücher.example",), "https://xn--bcher-kva.example/cb"),
        (("xn--bcher-kva.example",), "https://BÜCHER.example/cb"),
        (("*.bücher.example",), "https://shop.xn--bcher-kva.example/cb"),
        (("*.xn--bcher-kva.example",), "https://shop.bücher.example/cb"),
        (("::1",), "http://[0:0:0:0:0:0:0:1]:8080/cb"),
    ],
)
def test_trusted_hosts_compares_the_hosts_browsers_go_to(
    entries: tuple[str, ...], uri: str
) -> None:
    run(TrustedHosts(trusted_hosts=entries, **URIS_ONLY), {"redirect_uris": [uri]})


def test_trusted_hosts_refuses_a_malformed_uri() -> None:
    policy = TrustedHosts(trusted_hosts=("*.example.org",), **URIS_ONLY)
    assert refusal(policy, metadata={"redirect_uris": ["https://[::1/cb"]}).endswith(
        "Details: URI is malformed"
    )


@pytest.mark.parametrize(("op", "checked"), [("create", True), ("update", True), ("read", False)])
def test_client_uris_are_checked_on_writes_only(op: Operation, checked: bool) -> None:
    policy = TrustedHosts(trusted_hosts=("*.example.org",), **URIS_ONLY)
    evil = {"redirect_uris": ["https://evil.net/cb"]}
    if checked:
        assert "URI doesn't match" in refusal(policy, metadata=evil, op=op)
    else:
        run(policy, evil, op=op)


def test_client_uri_check_can_be_off() -> None:
    policy = TrustedHosts(trusted_hosts=("203.0.113.7",), client_uris_must_match=False)
    run(policy, {"redirect_uris": ["https://anywhere.net/cb"], "client_uri": "https://x.io"})


# --- policies that shape the client ---------------------------------------------------------

STORED = Candidate(metadata={}, enabled=True, consent_required=False, full_scope_allowed=True)


@pytest.mark.parametrize(
    ("policy", "op", "changes"),
    [
        (
            MaxClients(max_clients=5),
            "create",
            {"max_clients": 5, "max_clients_policy": "Max Clients Limit"},
        ),
        (MaxClients(max_clients=5), "update", {}),
        (ConsentRequired(), "create", {"consent_required": True}),
        (ConsentRequired(), "update", {"consent_required": True}),  # cannot be turned off
        (ConsentRequired(), "read", {}),
        (FullScopeDisabled(), "create", {"full_scope_allowed": False}),
        (FullScopeDisabled(), "update", {"full_scope_allowed": False}),
        (ClientDisabled(), "create", {"enabled": False}),
        (ClientDisabled(), "update", {}),  # only an admin enables; update leaves it as stored
        (ClientDisabled(), "delete", {}),
        (AllowedClientScopes(), "read", {}),
        (AllowedProtocolMappers(), "update", {}),
    ],
)
def test_policy_shapes_the_candidate(
    policy: PolicyConfig, op: Operation, changes: dict[str, Any]
) -> None:
    assert run(policy, op=op, candidate=STORED) == replace(STORED, metadata=WEB, **changes)


def test_max_clients_keeps_the_smallest_limit_and_its_policy_name() -> None:
    realm = realm_with(MaxClients(max_clients=50, name="Fifty"), MaxClients(max_clients=100))
    result = apply_policies(realm, "create", Candidate(metadata=WEB), ANON, resolve)
    assert (result.max_clients, result.max_clients_policy) == (50, "Fifty")
    assert max_clients_refusal(50) == "It's allowed to have max 50 clients per realm"


# --- allowed-client-scopes ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowed", "allow_default", "scope", "refused"),
    [
        ((), True, "openid profile email", None),  # the realm's default scopes
        ((), True, "openid phone", "phone"),
        ((), False, "openid", "openid"),
        (("phone",), False, "phone", None),
        (("phone",), True, "openid  phone", None),
        (("phone",), True, "phone address", "address"),
        ((), False, None, None),  # asks for no scope: nothing to check (Keycloak)
    ],
)
def test_allowed_client_scopes(
    allowed: tuple[str, ...], allow_default: bool, scope: str | None, refused: str | None
) -> None:
    policy = AllowedClientScopes(allowed_client_scopes=allowed, allow_default_scopes=allow_default)
    metadata = {**WEB, "scope": scope} if scope is not None else WEB
    for op in ("create", "update"):
        if refused is None:
            run(policy, metadata, op=op)
        else:
            details = f"Not permitted to use specified clientScope: {refused}"
            text = refusal(policy, metadata=metadata, op=op)
            assert text == keycloak_text("Allowed Client Scopes", details)


# --- allowed-protocol-mappers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("types", "subject_type", "refused"),
    [
        (None, "pairwise", False),  # Keycloak's default list allows the pairwise mapper
        (("oidc-full-name-mapper",), "pairwise", True),
        (("oidc-full-name-mapper",), "public", False),
        ((), None, False),
    ],
)
def test_allowed_protocol_mappers(
    types: tuple[str, ...] | None, subject_type: str | None, refused: bool
) -> None:
    policy = (
        AllowedProtocolMappers()
        if types is None
        else AllowedProtocolMappers(allowed_protocol_mapper_types=types)
    )
    metadata = {**WEB, "subject_type": subject_type} if subject_type else WEB
    if refused:
        details = "ProtocolMapper type not allowed: oidc-sha256-pairwise-sub-mapper"
        text = refusal(policy, metadata=metadata)
        assert text == keycloak_text("Allowed Protocol Mapper Types", details)
    else:
        run(policy, metadata)


# --- sets and order -------------------------------------------------------------------------


def test_first_refusal_in_file_order_wins() -> None:
    first = AllowedClientScopes(name="Scopes first", allow_default_scopes=False)
    second = TrustedHosts(name="Hosts second")
    realm = realm_with(first, second)
    metadata = {**WEB, "scope": "openid"}
    with pytest.raises(PolicyRefused) as caught:
        apply_policies(realm, "create", Candidate(metadata=metadata), ANON, resolve)
    assert caught.value.policy == "Scopes first"
    with pytest.raises(PolicyRefused) as caught:
        apply_policies(realm_with(second, first), "create", Candidate(metadata), ANON, resolve)
    assert caught.value.policy == "Hosts second"


def test_refusal_stops_later_policies_from_shaping() -> None:
    realm = realm_with(ClientDisabled(), TrustedHosts())
    with pytest.raises(PolicyRefused, match="Trusted Hosts"):
        apply_policies(realm, "create", Candidate(metadata=WEB), ANON, resolve)


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (ANON, "anonymous"),
        (AUTH, "authenticated"),
        (IAT, "authenticated"),
        (RAT_OF_ANONYMOUS, "anonymous"),
        (RAT_OF_AUTHENTICATED, "authenticated"),
    ],
)
def test_the_callers_auth_chooses_the_policy_set(caller: Caller, expected: str) -> None:
    anonymous = (ConsentRequired(),)
    authenticated = (ClientDisabled(),)
    realm = realm_with(*anonymous, authenticated=authenticated)
    chosen = policy_set(realm, caller)
    assert chosen == (anonymous if expected == "anonymous" else authenticated)
    result = apply_policies(realm, "create", Candidate(metadata=WEB), caller, resolve)
    assert (result.consent_required, result.enabled) == (
        (True, True) if expected == "anonymous" else (False, False)
    )


def test_keycloaks_default_anonymous_set_refuses_every_host() -> None:
    realm = RealmConfig.model_validate({"name": "r"})
    loopback = Caller("anonymous", host="127.0.0.1")
    with pytest.raises(PolicyRefused, match="'Trusted Hosts'.*Host not trusted"):
        apply_policies(realm, "create", Candidate(metadata=WEB), loopback, resolve)
    authed = Caller("initial_access_token", host="127.0.0.1")
    apply_policies(
        realm, "create", Candidate(metadata={**WEB, "scope": "openid phone"}), authed, resolve
    )


# --- check_scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "caller", "error", "text"),
    [
        (None, ANON, None, ""),
        ("", ANON, None, ""),
        ("openid phone offline_access", ANON, None, ""),
        ("openid admin.read", ADMIN, None, ""),
        ("openid nope", ADMIN, InvalidClientMetadata, "unknown scope nope"),
        ("admin.read", ANON, InsufficientScope, "admin.read"),
        ("admin.read", AUTH, InsufficientScope, "manage-clients"),
    ],
)
def test_check_scopes(
    scope: str | None, caller: Caller, error: type[Exception] | None, text: str
) -> None:
    realm = realm_with(restricted=("admin.read",))
    if error is None:
        check_scopes(realm, scope, caller)
    else:
        with pytest.raises(error, match=text):
            check_scopes(realm, scope, caller)


# --- a scope the realm does not have --------------------------------------------------------


def scopes_refusal(name: str, scope: str) -> str:
    return keycloak_text(name, f"Not permitted to use specified clientScope: {scope}")


@pytest.mark.parametrize("caller", [ANON, AUTH, ADMIN, IAT])
def test_unknown_scope_is_the_allowed_client_scopes_refusal_where_the_set_has_one(
    caller: Caller,
) -> None:
    # Keycloak: the set's allowed-client-scopes policy refuses it (403), not a 400
    scopes = AllowedClientScopes()
    realm = realm_with(scopes, authenticated=(scopes,))
    check_scopes(realm, "openid nope", caller)
    metadata = {**WEB, "scope": "openid nope"}
    with pytest.raises(PolicyRefused) as caught:
        apply_policies(realm, "create", Candidate(metadata=metadata), caller, resolve)
    assert caught.value.description == scopes_refusal("Allowed Client Scopes", "nope")


def test_unknown_scope_is_400_where_the_set_has_no_allowed_client_scopes() -> None:
    realm = realm_with(ConsentRequired(), authenticated=(AllowedClientScopes(),))
    with pytest.raises(InvalidClientMetadata, match="unknown scope nope"):
        check_scopes(realm, "openid nope", ANON)  # the anonymous set has none
    check_scopes(realm, "openid nope", AUTH)  # the authenticated set has one


def test_unknown_scope_meets_the_policies_in_file_order() -> None:
    realm = realm_with(TrustedHosts(trusted_hosts=("192.0.2.1",)), AllowedClientScopes())
    check_scopes(realm, "nope", ANON)
    metadata = {**WEB, "scope": "nope"}
    with pytest.raises(PolicyRefused, match="Host not trusted"):
        apply_policies(realm, "create", Candidate(metadata=metadata), ANON, resolve)


def test_restricted_scope_still_needs_manage_clients_under_allowed_client_scopes() -> None:
    scopes = AllowedClientScopes(allowed_client_scopes=("admin.read",))
    realm = realm_with(scopes, authenticated=(scopes,), restricted=("admin.read",))
    with pytest.raises(InsufficientScope, match="manage-clients"):
        check_scopes(realm, "openid admin.read nope", AUTH)
    check_scopes(realm, "openid admin.read nope", ADMIN)


def test_a_scope_a_policy_lets_through_must_still_be_the_realms() -> None:
    # allowed-client-scopes may list a scope the realm file does not define
    scopes = AllowedClientScopes(allowed_client_scopes=("legacy",))
    realm = realm_with(scopes)
    check_scopes(realm, "openid legacy", ANON)
    apply_policies(realm, "create", Candidate(metadata={**WEB, "scope": "legacy"}), ANON, resolve)
    with pytest.raises(InvalidClientMetadata, match="unknown scope legacy"):
        check_known_scopes(realm, "openid legacy")
    check_known_scopes(realm, "openid profile")
    check_known_scopes(realm, None)


def test_with_metadata_keeps_every_other_field_of_a_candidate() -> None:
    """Candidate.with_metadata stands for dataclasses.replace: a field added later must be
    carried over too."""
    every = Candidate(
        metadata={"client_name": "a"},
        enabled=False,
        consent_required=True,
        full_scope_allowed=False,
        max_clients=3,
        max_clients_policy="Max Clients Limit",
        clients_in_realm=2,
        held_scopes=frozenset({"email"}),
    )
    defaults = {f.name: f.default for f in dataclasses.fields(Candidate) if f.name != "metadata"}
    assert all(getattr(every, name) != default for name, default in defaults.items())
    assert every.with_metadata({"client_name": "b"}) == dataclasses.replace(
        every, metadata={"client_name": "b"}
    )
