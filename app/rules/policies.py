"""Keycloak's client registration policies (docs/reference.md §2) as pure functions.

No I/O and no clock: hostnames of trusted-hosts entries are resolved by an injected
`Resolver`. Deliberate limits, for purity: a `*.domain` entry matches client URIs only; the
request's host is matched against IP entries and resolved hostname entries, because Keycloak
matches a caller against a wildcard by reverse DNS, which this module does not do.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, assert_never

from app.auth.callers import Caller
from app.auth.roles import MANAGE_CLIENTS
from app.config.realm_models import (
    AllowedClientScopes,
    AllowedProtocolMappers,
    ClientDisabled,
    ConsentRequired,
    FullScopeDisabled,
    MaxClients,
    PolicyConfig,
    RealmConfig,
    TrustedHosts,
)
from app.errors import InsufficientScope, InvalidClientMetadata, PolicyRefused
from app.rules.client_representation import KEYCLOAK_MEMBERS
from app.rules.uri_reading import UnsafeUri, ascii_host, read_client_uri

Operation = Literal["create", "update", "read", "delete"]
Resolver = Callable[[str], frozenset[str]]  # hostname -> its IP addresses; empty if unknown

_IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# Client metadata members holding a URL the client controls (RFC 7591 §2, OIDC DCR §2,
# OIDC front-/back-channel logout); Keycloak checks redirectUris, rootUrl, baseUrl, adminUrl.
_URL_MEMBERS = frozenset(
    {
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "jwks_uri",
        "initiate_login_uri",
        "sector_identifier_uri",
        "frontchannel_logout_uri",
        "backchannel_logout_uri",
    }
)
_URI_LIST_MEMBERS = ("redirect_uris", "post_logout_redirect_uris", "request_uris")
_PAIRWISE_MAPPER = "oidc-sha256-pairwise-sub-mapper"


@dataclass(frozen=True)
class Candidate:
    """A client as the policies leave it. On update the flags start at these defaults, so the
    result tells what the update demands of them (the store applies only that)."""

    metadata: Mapping[str, Any]  # validated RFC 7591 metadata
    enabled: bool = True
    consent_required: bool = False
    full_scope_allowed: bool = True
    # set by max-clients on create; the store enforces it inside the insert, and the service
    # then raises PolicyRefused(max_clients_policy, max_clients_refusal(max_clients))
    max_clients: int | None = None
    max_clients_policy: str | None = None
    # clients of the realm counted before the policies run on create (None: not counted), so a
    # full realm is refused by max-clients in file order, before the policies listed after it
    clients_in_realm: int | None = None
    # on update, the scopes the stored client holds: Keycloak lets a client keep them
    held_scopes: frozenset[str] = frozenset()

    def with_metadata(self, metadata: Mapping[str, Any]) -> Candidate:
        """This candidate with other metadata: dataclasses.replace, without its look at every
        field on each call (twice per registration)."""
        return Candidate(
            metadata,
            self.enabled,
            self.consent_required,
            self.full_scope_allowed,
            self.max_clients,
            self.max_clients_policy,
            self.clients_in_realm,
            self.held_scopes,
        )


def max_clients_refusal(max_clients: int) -> str:
    """Keycloak's detail text when a realm holds max-clients clients already."""
    return f"It's allowed to have max {max_clients} clients per realm"


def policy_set(realm: RealmConfig, caller: Caller) -> tuple[PolicyConfig, ...]:
    if caller.auth == "anonymous":
        return realm.registration.anonymous
    return realm.registration.authenticated


def apply_policies(
    realm: RealmConfig, op: Operation, candidate: Candidate, caller: Caller, resolve: Resolver
) -> Candidate:
    """Run the caller's policy set in file order; the first refusal raises PolicyRefused."""
    for policy in policy_set(realm, caller):
        candidate = _apply(policy, realm, op, candidate, caller, resolve)
    return candidate


def check_scopes(
    realm: RealmConfig, scope: str | None, caller: Caller, held: frozenset[str] = frozenset()
) -> None:
    """Realm rules run before the policies: only the realm's scopes, restricted ones for admins.

    `held` are the scopes the client has already (on update): an RFC 7592 PUT sends them back.
    A scope the realm does not have is a 400 here only when no allowed-client-scopes policy of
    the caller's set will judge it: where one will, Keycloak answers with that policy's refusal
    (403), in file order, and so do we (check_known_scopes then runs after the policies).
    """
    judged = any(isinstance(policy, AllowedClientScopes) for policy in policy_set(realm, caller))
    for requested in (scope or "").split():
        if requested not in realm.all_scopes:
            if judged:
                continue
            raise InvalidClientMetadata(f"unknown scope {requested}")
        if requested in held:
            continue
        if requested in realm.scopes.restricted and MANAGE_CLIENTS not in caller.roles:
            raise InsufficientScope(f"scope {requested} needs the manage-clients role")


def check_known_scopes(realm: RealmConfig, scope: str | None) -> None:
    """After the policies: a scope they let through must still be one the realm has (one an
    allowed-client-scopes policy lists, or a client held, but the realm file no longer has)."""
    for requested in (scope or "").split():
        if requested not in realm.all_scopes:
            raise InvalidClientMetadata(f"unknown scope {requested}")


def _apply(
    policy: PolicyConfig,
    realm: RealmConfig,
    op: Operation,
    candidate: Candidate,
    caller: Caller,
    resolve: Resolver,
) -> Candidate:
    """The candidate as this policy leaves it, or raise PolicyRefused."""
    writes = op in ("create", "update")
    match policy:
        case TrustedHosts():
            # Keycloak: beforeRegister/beforeUpdate verify host and URLs, beforeView and
            # beforeDelete the host only
            if policy.host_sending_registration_request_must_match:
                if not _caller_trusted(policy.trusted_hosts, caller.host, resolve):
                    raise PolicyRefused(policy.name, "Host not trusted.")
            if writes and policy.client_uris_must_match:
                _check_client_urls(policy, candidate.metadata)
            return candidate
        case MaxClients():
            if op != "create":
                return candidate
            counted = candidate.clients_in_realm
            if counted is not None and counted >= policy.max_clients:
                raise PolicyRefused(policy.name, max_clients_refusal(policy.max_clients))
            if candidate.max_clients is not None and candidate.max_clients <= policy.max_clients:
                return candidate
            return replace(
                candidate, max_clients=policy.max_clients, max_clients_policy=policy.name
            )
        case ConsentRequired():
            # Keycloak sets it after register and refuses turning it off on update
            return replace(candidate, consent_required=True) if writes else candidate
        case FullScopeDisabled():
            return replace(candidate, full_scope_allowed=False) if writes else candidate
        case ClientDisabled():
            # only an admin enables the client; an update leaves `enabled` as stored
            return replace(candidate, enabled=False) if op == "create" else candidate
        case AllowedClientScopes():
            if writes:
                _check_allowed_scopes(policy, realm, candidate.metadata, candidate.held_scopes)
            return candidate
        case AllowedProtocolMappers():
            if writes:
                for mapper in _implied_mappers(candidate.metadata):
                    if mapper not in policy.allowed_protocol_mapper_types:
                        detail = f"ProtocolMapper type not allowed: {mapper}"
                        raise PolicyRefused(policy.name, detail)
            return candidate
        case _:
            assert_never(policy)


def _check_allowed_scopes(
    policy: AllowedClientScopes,
    realm: RealmConfig,
    metadata: Mapping[str, Any],
    held: frozenset[str],
) -> None:
    # Keycloak checks only scopes a client asks for; one asking none gets the realm defaults.
    # On update it allows "scopes, which were already presented before" (beforeUpdate).
    scope = metadata.get("scope")
    allowed = set(policy.allowed_client_scopes) | held
    if policy.allow_default_scopes:
        allowed.update(realm.scopes.default)
    for requested in scope.split() if isinstance(scope, str) else ():
        if requested not in allowed:
            detail = f"Not permitted to use specified clientScope: {requested}"
            raise PolicyRefused(policy.name, detail)


def _implied_mappers(metadata: Mapping[str, Any]) -> Iterator[str]:
    """Protocol mapper types Keycloak would add for this metadata (DescriptionConverter)."""
    if metadata.get("subject_type") == "pairwise":
        yield _PAIRWISE_MAPPER


def _caller_trusted(entries: tuple[str, ...], host: str, resolve: Resolver) -> bool:
    address = _ip(host)
    if address is None:  # not an address (an ASGI test client's name): compare names only
        return any(_norm(host) == _norm(e) for e in entries if not e.startswith("*."))
    for entry in entries:
        if entry.startswith("*."):
            # Keycloak names a loopback caller "localhost" for its domain checks
            if address.is_loopback and _domain_matches("localhost", entry):
                return True
            continue
        entry_ip = _ip(entry)
        if entry_ip is not None:
            if entry_ip == address:
                return True
        elif address in _resolved(entry, resolve) or (
            address.is_loopback and _norm(entry) == "localhost"
        ):
            return True
    return False


def _resolved(hostname: str, resolve: Resolver) -> set[_IP]:
    try:
        addresses = resolve(_norm(hostname))
    except OSError:  # an unknown host in the realm file; Keycloak skips it too
        return set()
    return {ip for ip in map(_ip, addresses) if ip is not None}


def _check_client_urls(policy: TrustedHosts, metadata: Mapping[str, Any]) -> None:
    for kind, url in _client_urls(metadata):
        # the host a browser would go to: the metadata rules read every URI the same way
        try:
            uri = read_client_uri(url)
        except UnsafeUri:
            uri = None
        if uri is None:
            raise PolicyRefused(policy.name, f"{kind} is malformed")
        # a URI without a host (a native app's custom scheme) matches no trusted host
        if uri.host is None or not _host_trusted(uri.host, policy.trusted_hosts):
            detail = f"{kind} doesn't match any trusted host or trusted domain: {url}"
            raise PolicyRefused(policy.name, detail)


def _client_urls(metadata: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(Keycloak's word for it, URL) for every URL member; language-tagged variants too."""
    for member in _URI_LIST_MEMBERS:
        values = metadata.get(member)
        for value in values if isinstance(values, list | tuple) else ():
            yield "URI", str(value)
    for member, value in metadata.items():
        if member.partition("#")[0] in _URL_MEMBERS and value is not None:
            yield "URL", str(value)
    # a Keycloak representation's own URLs, kept beside the metadata (Keycloak checks them)
    kept = metadata.get(KEYCLOAK_MEMBERS)
    for member in ("rootUrl", "adminUrl"):
        if isinstance(kept, Mapping) and kept.get(member):
            yield "URL", str(kept[member])


def _host_trusted(host: str, entries: tuple[str, ...]) -> bool:
    address = _ip(host)
    for entry in entries:
        if address is not None:
            if _ip(entry) == address:
                return True
        elif _domain_matches(_norm(host), entry):
            return True
    return False


def _domain_matches(hostname: str, entry: str) -> bool:
    """Keycloak's checkTrustedDomain: `*.d` is d and its subdomains; else an exact name."""
    entry = _norm(entry)
    if entry.startswith("*."):
        domain = entry[2:]
        return hostname == domain or hostname.endswith("." + domain)
    return hostname == entry


def _norm(hostname: str) -> str:
    """A host name to compare: lowercase IDNA ASCII (as browsers send it), no trailing dot."""
    return ascii_host(hostname).rstrip(".")


@functools.lru_cache(maxsize=4096)  # pure; trusted-hosts entries are parsed on every request
def _ip(text: str) -> _IP | None:
    try:
        address = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    # an IPv4 peer on a dual-stack socket shows as ::ffff:a.b.c.d
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def names_to_resolve(realm: RealmConfig, caller: Caller) -> frozenset[str]:
    """The host names of the caller's trusted-hosts entries that the caller's address may be
    matched against: what the service resolves (off the event loop) before the policies run."""
    names: set[str] = set()
    for policy in policy_set(realm, caller):
        if isinstance(policy, TrustedHosts) and policy.host_sending_registration_request_must_match:
            entries = policy.trusted_hosts
            names.update(_norm(e) for e in entries if not e.startswith("*.") and _ip(e) is None)
    return frozenset(names)
