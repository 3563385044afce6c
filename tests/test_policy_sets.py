"""Registration policies through HTTP (docs/reference.md §2, §3): the anonymous and authenticated
sets, every Keycloak policy type, the realm's scopes, Keycloak's default sets and in-process hot
reload.

Realms are tests/app_realms/policy_*.yaml. `client` calls from 127.0.0.1 (trusted by every
anonymous set here), `stranger` from 203.0.113.7 (trusted by none).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from app.container import Container
from tests.helpers import (
    JSON,
    RP,
    admin_token,
    assert_error,
    assert_invalid_token,
    bearer,
    client_path,
    delete_client,
    error_of,
    get_client,
    initial_access_token,
    post_client,
    put_client,
    rat_of,
    register,
    updatable,
)

pytestmark = pytest.mark.anyio

OTHER_RP = "https://rp.other.net/cb"
PARTNER_RP = "https://app.example.org/cb"
PAIRWISE = "oidc-sha256-pairwise-sub-mapper"
RP_ONLY: JSON = {"redirect_uris": [RP]}


def policy_text(policy: str, details: str) -> str:
    return f"Policy '{policy}' rejected request to client-registration service. Details: {details}"


def assert_refused(response: httpx.Response, policy: str, details: str) -> None:
    """403 insufficient_scope with Keycloak's policy message (docs/reference.md §3)."""
    assert response.status_code == 403, response.text
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"] == policy_text(policy, details)


def host_refused(policy: str = "Trusted Hosts") -> tuple[str, str]:
    return policy, "Host not trusted."


async def register_with_iat(http: httpx.AsyncClient, realm: str, **metadata: Any) -> JSON:
    return await register(http, realm, await initial_access_token(http, realm), **metadata)


async def admin_view(http: httpx.AsyncClient, realm: str, client_id: str) -> JSON:
    response = await http.get(
        f"/admin/realms/{realm}/clients/{client_id}",
        headers=bearer(await admin_token(http, realm)),
    )
    assert response.status_code == 200, response.text
    view: JSON = response.json()
    return view


async def set_enabled(http: httpx.AsyncClient, realm: str, client_id: str, enabled: bool) -> None:
    response = await http.put(
        f"/admin/realms/{realm}/clients/{client_id}",
        json={"enabled": enabled},
        headers=bearer(await admin_token(http, realm)),
    )
    assert response.status_code == 204, response.text


async def put_metadata(http: httpx.AsyncClient, registered: JSON, **changes: Any) -> httpx.Response:
    """PUT the client's registration back with `changes`, using its current RAT."""
    body = {**updatable(registered), **changes}
    return await put_client(http, registered, rat_of(registered), body)


# --- anonymous set vs authenticated set (policy_sets.yaml) ----------------------------------


async def test_scope_the_anonymous_set_refuses_is_accepted_with_an_initial_access_token(
    client: httpx.AsyncClient,
) -> None:
    body = {"redirect_uris": [PARTNER_RP], "scope": "openid phone"}
    anonymous = await post_client(client, body, "policy_sets")
    assert_refused(
        anonymous, "Allowed Client Scopes", "Not permitted to use specified clientScope: phone"
    )
    with_iat = await post_client(
        client, body, "policy_sets", await initial_access_token(client, "policy_sets")
    )
    assert with_iat.status_code == 201, with_iat.text
    assert with_iat.json()["scope"] == "openid phone"


async def test_redirect_host_the_authenticated_set_refuses_is_accepted_anonymously(
    client: httpx.AsyncClient,
) -> None:
    body = {"redirect_uris": [OTHER_RP]}
    with_iat = await post_client(
        client, body, "policy_sets", await initial_access_token(client, "policy_sets")
    )
    assert_refused(
        with_iat,
        "Company Domains",
        f"URI doesn't match any trusted host or trusted domain: {OTHER_RP}",
    )
    anonymous = await post_client(client, body, "policy_sets")
    assert anonymous.status_code == 201, anonymous.text


async def test_a_manage_clients_bearer_runs_the_authenticated_set(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient
) -> None:
    token = await admin_token(client, "policy_sets")
    # the authenticated set checks no caller host, only client URIs
    refused = await post_client(stranger, {"redirect_uris": [OTHER_RP]}, "policy_sets", token)
    assert_refused(
        refused,
        "Company Domains",
        f"URI doesn't match any trusted host or trusted domain: {OTHER_RP}",
    )
    accepted = await post_client(
        stranger, {"redirect_uris": [PARTNER_RP], "scope": "phone"}, "policy_sets", token
    )
    assert accepted.status_code == 201, accepted.text


async def test_an_initial_access_token_registers_from_a_host_the_anonymous_set_refuses(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient
) -> None:
    body = {"redirect_uris": [PARTNER_RP]}
    assert_refused(await post_client(stranger, body, "policy_sets"), *host_refused())
    token = await initial_access_token(client, "policy_sets")
    accepted = await post_client(stranger, body, "policy_sets", token)
    assert accepted.status_code == 201, accepted.text


async def test_rat_of_an_anonymous_client_runs_the_anonymous_set_on_read_update_delete(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient
) -> None:
    registered = await register(client, "policy_sets", redirect_uris=[PARTNER_RP])
    rat = rat_of(registered)
    # the caller host check of trusted-hosts, for every method
    assert_refused(await get_client(stranger, registered, rat), *host_refused())
    assert_refused(
        await put_client(stranger, registered, rat, updatable(registered)), *host_refused()
    )
    assert_refused(await delete_client(stranger, registered, rat), *host_refused())
    # allowed-client-scopes of the anonymous set on update
    assert_refused(
        await put_metadata(client, registered, scope="openid phone"),
        "Allowed Client Scopes",
        "Not permitted to use specified clientScope: phone",
    )
    # the authenticated set's client URI check does not apply
    moved = await put_metadata(client, registered, redirect_uris=[OTHER_RP])
    assert moved.status_code == 200, moved.text
    assert (await get_client(client, registered, rat_of(moved.json()))).status_code == 200
    assert (await delete_client(client, registered, rat_of(moved.json()))).status_code == 204


async def test_rat_of_an_iat_client_runs_the_authenticated_set_on_read_update_delete(
    client: httpx.AsyncClient, stranger: httpx.AsyncClient
) -> None:
    registered = await register_with_iat(client, "policy_sets", redirect_uris=[PARTNER_RP])
    # no caller host check in the authenticated set: the stranger may use the RAT
    read = await get_client(stranger, registered, rat_of(registered))
    assert read.status_code == 200, read.text
    widened = await put_metadata(stranger, registered, scope="openid phone")
    assert widened.status_code == 200, widened.text
    assert widened.json()["scope"] == "openid phone"
    assert_refused(
        await put_metadata(stranger, widened.json(), redirect_uris=[OTHER_RP]),
        "Company Domains",
        f"URI doesn't match any trusted host or trusted domain: {OTHER_RP}",
    )
    deleted = await delete_client(stranger, registered, rat_of(widened.json()))
    assert deleted.status_code == 204, deleted.text


# --- trusted-hosts (policy_hosts.yaml) -------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://app.example.org/cb",
        "https://example.org/cb",
        "https://deep.app.example.org/cb",
        "https://APP.Example.ORG/cb",
        "https://app.example.org:8443/cb",
        "https://cdn.example.net/cb",
        "http://127.0.0.1:8080/cb",
    ],
)
async def test_client_uri_on_a_trusted_host_or_domain_is_accepted(
    client: httpx.AsyncClient, redirect_uri: str
) -> None:
    registered = await register(client, "policy_hosts", redirect_uris=[redirect_uri])
    assert registered["redirect_uris"] == [redirect_uri]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evilexample.org/cb",
        "https://example.org.evil.net/cb",
        "https://other.example.net/cb",
        "https://example.net/cb",
        "http://localhost:8080/cb",
        "http://127.0.0.2:8080/cb",
    ],
)
async def test_client_uri_on_an_untrusted_host_is_refused_naming_the_policy(
    client: httpx.AsyncClient, redirect_uri: str
) -> None:
    response = await post_client(client, {"redirect_uris": [redirect_uri]}, "policy_hosts")
    assert_refused(
        response,
        "Partner Hosts",
        f"URI doesn't match any trusted host or trusted domain: {redirect_uri}",
    )


EVIL = "https://evilexample.org"


@pytest.mark.parametrize(
    ("member", "value", "kind", "shown"),
    [
        ("redirect_uris", [PARTNER_RP, f"{EVIL}/cb"], "URI", f"{EVIL}/cb"),
        ("post_logout_redirect_uris", [f"{EVIL}/bye"], "URI", f"{EVIL}/bye"),
        ("request_uris", [f"{EVIL}/req.jwt"], "URI", f"{EVIL}/req.jwt"),
        ("client_uri", f"{EVIL}/", "URL", f"{EVIL}/"),
        ("logo_uri", f"{EVIL}/logo.png", "URL", f"{EVIL}/logo.png"),
        ("logo_uri#fr", f"{EVIL}/logo-fr.png", "URL", f"{EVIL}/logo-fr.png"),
        ("tos_uri", f"{EVIL}/tos", "URL", f"{EVIL}/tos"),
        ("policy_uri", f"{EVIL}/privacy", "URL", f"{EVIL}/privacy"),
        ("jwks_uri", f"{EVIL}/jwks.json", "URL", f"{EVIL}/jwks.json"),
        ("initiate_login_uri", f"{EVIL}/login", "URL", f"{EVIL}/login"),
        ("frontchannel_logout_uri", f"{EVIL}/fc", "URL", f"{EVIL}/fc"),
        ("backchannel_logout_uri", f"{EVIL}/bc", "URL", f"{EVIL}/bc"),
    ],
)
async def test_every_client_uri_member_is_checked_against_trusted_hosts(
    client: httpx.AsyncClient, member: str, value: Any, kind: str, shown: str
) -> None:
    body = {"redirect_uris": [PARTNER_RP], member: value}
    response = await post_client(client, body, "policy_hosts")
    details = f"{kind} doesn't match any trusted host or trusted domain: {shown}"
    assert_refused(response, "Partner Hosts", details)


# the host urlsplit reads is trusted (*.example.org, 127.0.0.1); browsers go to evil.com
DISGUISED = ["https://evil.com\\.example.org/cb", "http://evil.com\\@127.0.0.1:8080/callback"]


@pytest.mark.parametrize("redirect_uri", DISGUISED)
async def test_redirect_uri_disguised_as_a_trusted_host_is_invalid_redirect_uri(
    client: httpx.AsyncClient, redirect_uri: str
) -> None:
    response = await post_client(client, {"redirect_uris": [redirect_uri]}, "policy_hosts")
    assert response.status_code == 400, response.text
    assert error_of(response) == "invalid_redirect_uri"
    assert response.json()["error_description"] == (
        "redirect_uris must not hold a URI with a backslash"
    )


@pytest.mark.parametrize("url", [uri.replace("/cb", "/logo.png") for uri in DISGUISED])
async def test_url_disguised_as_a_trusted_host_is_invalid_client_metadata(
    client: httpx.AsyncClient, url: str
) -> None:
    body = {"redirect_uris": [PARTNER_RP], "logo_uri": url}
    response = await post_client(client, body, "policy_hosts")
    assert response.status_code == 400, response.text
    assert error_of(response) == "invalid_client_metadata"
    assert "logo_uri" in response.json()["error_description"]


async def test_internationalized_host_under_a_trusted_domain_is_accepted(
    client: httpx.AsyncClient,
) -> None:
    uri = "https://bücher.example.org/cb"  # a browser goes to xn--bcher-kva.example.org
    registered = await register(client, "policy_hosts", redirect_uris=[uri])
    assert registered["redirect_uris"] == [uri]


async def test_client_uris_on_trusted_hosts_are_accepted_together(
    client: httpx.AsyncClient,
) -> None:
    await register(
        client,
        "policy_hosts",
        redirect_uris=[PARTNER_RP, "https://example.org/cb"],
        client_uri="https://www.example.org/",
        logo_uri="https://cdn.example.net/logo.png",
        post_logout_redirect_uris=["https://app.example.org/bye"],
    )


async def test_caller_host_not_trusted_is_refused_before_client_uris(
    stranger: httpx.AsyncClient,
) -> None:
    for uri in (PARTNER_RP, f"{EVIL}/cb"):
        response = await post_client(stranger, {"redirect_uris": [uri]}, "policy_hosts")
        assert_refused(response, *host_refused("Partner Hosts"))


async def test_update_moving_a_client_uri_off_the_trusted_hosts_is_refused(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, "policy_hosts", redirect_uris=[PARTNER_RP])
    assert_refused(
        await put_metadata(client, registered, client_uri=f"{EVIL}/"),
        "Partner Hosts",
        f"URL doesn't match any trusted host or trusted domain: {EVIL}/",
    )
    # the refused PUT left the RAT valid; a trusted URI is accepted
    moved = await put_metadata(client, registered, client_uri="https://www.example.org/")
    assert moved.status_code == 200, moved.text
    assert moved.json()["client_uri"] == "https://www.example.org/"


# --- max-clients (policy_capped.yaml, policy_quota_first.yaml) -------------------------------


async def test_max_clients_counts_every_client_of_the_realm_including_authenticated_ones(
    client: httpx.AsyncClient,
) -> None:
    # clients of another realm do not count
    await register(client, "policy_hosts")
    first = await register_with_iat(client, "policy_capped")
    anonymous = await register(client, "policy_capped")
    full = "It's allowed to have max 2 clients per realm"
    assert_refused(await post_client(client, RP_ONLY, "policy_capped"), "Max Clients Limit", full)
    # the authenticated set has no max-clients policy: it still registers
    await register_with_iat(client, "policy_capped")
    deleted = await delete_client(client, anonymous, rat_of(anonymous))
    assert deleted.status_code == 204
    # still two clients, both authenticated
    assert_refused(await post_client(client, RP_ONLY, "policy_capped"), "Max Clients Limit", full)
    assert (await delete_client(client, first, rat_of(first))).status_code == 204
    await register(client, "policy_capped")


async def test_a_full_realm_is_refused_by_max_clients_listed_before_a_refusing_policy(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "policy_quota_first")
    response = await post_client(
        client, {"redirect_uris": [RP], "scope": "openid phone"}, "policy_quota_first"
    )
    assert_refused(response, "Quota", "It's allowed to have max 1 clients per realm")


# --- consent-required and scope (policy_flags.yaml) ------------------------------------------


async def test_anonymous_client_requires_consent_and_has_no_full_scope(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, "policy_flags")
    view = await admin_view(client, "policy_flags", registered["client_id"])
    assert view["consentRequired"] is True
    assert view["fullScopeAllowed"] is False
    assert view["registrationAuth"] == "anonymous"
    assert view["enabled"] is True


async def test_consent_and_full_scope_stay_as_the_policies_left_them_after_put(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, "policy_flags")
    by_rat = await put_metadata(client, registered, redirect_uris=[PARTNER_RP])
    assert by_rat.status_code == 200, by_rat.text
    view = await admin_view(client, "policy_flags", registered["client_id"])
    assert (view["consentRequired"], view["fullScopeAllowed"]) == (True, False)
    # an admin's PUT runs the authenticated set, which has neither policy
    by_admin = await client.put(
        client_path(registered),
        json=updatable(by_rat.json()),
        headers=bearer(await admin_token(client, "policy_flags")),
    )
    assert by_admin.status_code == 200, by_admin.text
    view = await admin_view(client, "policy_flags", registered["client_id"])
    assert (view["consentRequired"], view["fullScopeAllowed"]) == (True, False)


async def test_an_update_sets_the_flags_its_policies_demand_and_clears_none(
    client: httpx.AsyncClient, app: Starlette, realms_dir: Path
) -> None:
    path = realms_dir / "policy_later.yaml"
    path.write_text(flag_policies(""))
    assert reload_realms(app) == []
    registered = await register(client, "policy_later")
    view = await admin_view(client, "policy_later", registered["client_id"])
    assert (view["consentRequired"], view["fullScopeAllowed"]) == (False, True)
    # the policies arrive after the client: its next update gets the flags they set on writes
    path.write_text(flag_policies("    - type: consent-required\n    - type: scope\n"))
    assert reload_realms(app) == []
    flagged = await put_metadata(client, registered, client_name="flagged")
    assert flagged.status_code == 200, flagged.text
    view = await admin_view(client, "policy_later", registered["client_id"])
    assert (view["consentRequired"], view["fullScopeAllowed"]) == (True, False)
    # and an update under a set without them leaves the flags as stored
    path.write_text(flag_policies(""))
    assert reload_realms(app) == []
    kept = await put_metadata(client, flagged.json(), client_name="kept")
    assert kept.status_code == 200, kept.text
    view = await admin_view(client, "policy_later", registered["client_id"])
    assert (view["consentRequired"], view["fullScopeAllowed"]) == (True, False)


async def test_authenticated_set_without_the_policies_leaves_keycloaks_client_defaults(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_iat(client, "policy_flags")
    view = await admin_view(client, "policy_flags", registered["client_id"])
    assert (view["consentRequired"], view["fullScopeAllowed"]) == (False, True)
    assert view["registrationAuth"] == "authenticated"


# --- client-disabled (policy_held.yaml) ------------------------------------------------------


async def test_client_held_disabled_has_a_dead_rat_until_an_admin_enables_it(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, "policy_held")
    rat = rat_of(registered)
    assert (await admin_view(client, "policy_held", registered["client_id"]))["enabled"] is False
    assert_invalid_token(await get_client(client, registered, rat))
    assert_invalid_token(await put_client(client, registered, rat, updatable(registered)))
    assert_invalid_token(await delete_client(client, registered, rat))

    await set_enabled(client, "policy_held", registered["client_id"], True)
    assert (await admin_view(client, "policy_held", registered["client_id"]))["enabled"] is True
    read = await get_client(client, registered, rat)
    assert read.status_code == 200, read.text
    # an update by the client does not undo the approval
    updated = await put_metadata(client, registered, client_name="approved")
    assert updated.status_code == 200, updated.text
    assert (await admin_view(client, "policy_held", registered["client_id"]))["enabled"] is True


async def test_an_admins_update_of_a_held_client_keeps_it_held(client: httpx.AsyncClient) -> None:
    registered = await register(client, "policy_held")
    updated = await client.put(
        client_path(registered),
        json={**updatable(registered), "client_name": "renamed"},
        headers=bearer(await admin_token(client, "policy_held")),
    )
    assert updated.status_code == 200, updated.text
    view = await admin_view(client, "policy_held", registered["client_id"])
    assert (view["name"], view["enabled"]) == ("renamed", False)
    assert_invalid_token(await get_client(client, registered, rat_of(registered)))


async def test_client_held_disabled_gets_no_token_until_enabled(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(
        client,
        "policy_held",
        redirect_uris=[],
        grant_types=["client_credentials"],
        response_types=[],
    )
    credentials = (registered["client_id"], registered["client_secret"])
    path = "/realms/policy_held/protocol/openid-connect/token"
    form = {"grant_type": "client_credentials"}
    refused = await client.post(path, data=form, auth=credentials)
    assert refused.status_code == 401, refused.text
    assert error_of(refused) == "invalid_client"
    await set_enabled(client, "policy_held", registered["client_id"], True)
    granted = await client.post(path, data=form, auth=credentials)
    assert granted.status_code == 200, granted.text


async def test_authenticated_registration_is_held_too_when_its_set_says_so(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_iat(client, "policy_held")
    assert (await admin_view(client, "policy_held", registered["client_id"]))["enabled"] is False
    assert_invalid_token(await get_client(client, registered, rat_of(registered)))


# --- allowed-client-scopes (policy_scopes.yaml) ----------------------------------------------


@pytest.mark.parametrize(
    ("scope", "refused"),
    [
        ("openid profile offline_access", None),  # offline_access listed, the rest defaults
        ("offline_access", None),
        ("openid email", "email"),  # a realm scope the policy does not list
        ("phone profile", "phone"),
    ],
)
async def test_anonymous_set_allows_listed_and_default_scopes(
    client: httpx.AsyncClient, scope: str, refused: str | None
) -> None:
    response = await post_client(client, {"redirect_uris": [RP], "scope": scope}, "policy_scopes")
    if refused is None:
        assert response.status_code == 201, response.text
        assert response.json()["scope"] == scope
    else:
        details = f"Not permitted to use specified clientScope: {refused}"
        assert_refused(response, "Allowed Client Scopes", details)


@pytest.mark.parametrize(
    ("scope", "refused"),
    [
        ("email", None),
        ("openid email", "openid"),  # allow-default-scopes: false
        ("email offline_access", "offline_access"),
    ],
)
async def test_allowed_client_templates_alias_without_default_scopes(
    client: httpx.AsyncClient, scope: str, refused: str | None
) -> None:
    token = await initial_access_token(client, "policy_scopes")
    body = {"redirect_uris": [RP], "scope": scope}
    response = await post_client(client, body, "policy_scopes", token)
    if refused is None:
        assert response.status_code == 201, response.text
        assert response.json()["scope"] == scope
    else:
        details = f"Not permitted to use specified clientScope: {refused}"
        assert_refused(response, "Legacy Templates", details)


@pytest.mark.parametrize("with_iat", [False, True])
async def test_client_asking_no_scope_gets_the_realm_defaults_under_either_set(
    client: httpx.AsyncClient, with_iat: bool
) -> None:
    # Keycloak checks only the scopes a client asks for
    token = await initial_access_token(client, "policy_scopes") if with_iat else None
    response = await post_client(client, {"redirect_uris": [RP]}, "policy_scopes", token)
    assert response.status_code == 201, response.text
    assert response.json()["scope"] == "openid profile"


async def test_allowed_client_scopes_runs_on_update_with_the_rat(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, "policy_scopes", scope="openid")
    assert_refused(
        await put_metadata(client, registered, scope="openid email"),
        "Allowed Client Scopes",
        "Not permitted to use specified clientScope: email",
    )
    widened = await put_metadata(client, registered, scope="openid offline_access")
    assert widened.status_code == 200, widened.text
    assert widened.json()["scope"] == "openid offline_access"


@pytest.mark.parametrize("with_iat", [False, True])
async def test_scope_the_realm_does_not_have_is_the_allowed_client_scopes_refusal(
    client: httpx.AsyncClient, with_iat: bool
) -> None:
    # Keycloak: a scope the set's allowed-client-scopes policy does not allow is its refusal,
    # whether the realm knows the scope or not
    token = await initial_access_token(client, "policy_scopes") if with_iat else None
    body = {"redirect_uris": [RP], "scope": "email nonsense" if with_iat else "nonsense"}
    response = await post_client(client, body, "policy_scopes", token)
    policy = "Legacy Templates" if with_iat else "Allowed Client Scopes"
    assert_refused(response, policy, "Not permitted to use specified clientScope: nonsense")


async def test_scope_the_realm_does_not_have_is_refused_by_the_policy_on_update(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, "policy_scopes", scope="openid")
    assert_refused(
        await put_metadata(client, registered, scope="openid nonsense"),
        "Allowed Client Scopes",
        "Not permitted to use specified clientScope: nonsense",
    )


async def test_scope_the_realm_does_not_have_is_400_under_a_set_without_the_policy(
    client: httpx.AsyncClient,
) -> None:
    # policy_hosts.yaml's anonymous set has only trusted-hosts
    body = {"redirect_uris": [PARTNER_RP], "scope": "openid nonsense"}
    response = await post_client(client, body, "policy_hosts")
    assert response.status_code == 400, response.text
    assert error_of(response) == "invalid_client_metadata"
    assert response.json()["error_description"] == "unknown scope nonsense"


# --- allowed-protocol-mappers (policy_mappers.yaml) ------------------------------------------


async def test_pairwise_subject_is_refused_where_its_mapper_type_is_not_allowed(
    client: httpx.AsyncClient,
) -> None:
    body = {"redirect_uris": [RP], "subject_type": "pairwise"}
    response = await post_client(client, body, "policy_mappers")
    assert_refused(
        response, "Allowed Protocol Mapper Types", f"ProtocolMapper type not allowed: {PAIRWISE}"
    )
    public = await post_client(client, {**body, "subject_type": "public"}, "policy_mappers")
    assert public.status_code == 201, public.text


async def test_pairwise_subject_is_accepted_where_its_mapper_type_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_iat(client, "policy_mappers", subject_type="pairwise")
    assert registered["subject_type"] == "pairwise"


async def test_update_to_a_pairwise_subject_runs_the_mapper_policy(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client, "policy_mappers")
    assert_refused(
        await put_metadata(client, registered, subject_type="pairwise"),
        "Allowed Protocol Mapper Types",
        f"ProtocolMapper type not allowed: {PAIRWISE}",
    )


# --- file order (policy_order.yaml) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("with_iat", "body", "policy", "details"),
    [
        # both refuse: the first in the set's file order wins
        (False, {"scope": "phone", "subject_type": "pairwise"}, "Scope Rule", "phone"),
        (True, {"scope": "phone", "subject_type": "pairwise"}, "Mapper Rule", PAIRWISE),
        # one refuses: that one, whatever its place
        (False, {"subject_type": "pairwise"}, "Mapper Rule", PAIRWISE),
        (True, {"scope": "phone"}, "Scope Rule", "phone"),
    ],
)
async def test_policies_run_in_file_order_and_the_first_refusal_wins(
    client: httpx.AsyncClient, with_iat: bool, body: JSON, policy: str, details: str
) -> None:
    token = await initial_access_token(client, "policy_order") if with_iat else None
    response = await post_client(client, {"redirect_uris": [RP], **body}, "policy_order", token)
    texts = {
        "Scope Rule": f"Not permitted to use specified clientScope: {details}",
        "Mapper Rule": f"ProtocolMapper type not allowed: {details}",
    }
    assert_refused(response, policy, texts[policy])


async def test_trusted_hosts_listed_first_refuses_before_the_others(
    stranger: httpx.AsyncClient,
) -> None:
    body = {"redirect_uris": [RP], "scope": "phone", "subject_type": "pairwise"}
    assert_refused(await post_client(stranger, body, "policy_order"), *host_refused())


@pytest.mark.parametrize(
    ("caller", "with_iat", "policy"),
    [
        ("stranger", False, "Trusted Hosts"),  # trusted-hosts is listed before Scope Rule
        ("client", False, "Scope Rule"),
        ("client", True, "Mapper Rule"),  # listed before Scope Rule in the authenticated set
    ],
)
async def test_scope_the_realm_does_not_have_meets_the_policies_in_file_order(
    client: httpx.AsyncClient,
    stranger: httpx.AsyncClient,
    caller: str,
    with_iat: bool,
    policy: str,
) -> None:
    token = await initial_access_token(client, "policy_order") if with_iat else None
    body = {"redirect_uris": [RP], "scope": "nonsense", "subject_type": "pairwise"}
    response = await post_client(
        stranger if caller == "stranger" else client, body, "policy_order", token
    )
    texts = {
        "Trusted Hosts": "Host not trusted.",
        "Scope Rule": "Not permitted to use specified clientScope: nonsense",
        "Mapper Rule": f"ProtocolMapper type not allowed: {PAIRWISE}",
    }
    assert_refused(response, policy, texts[policy])


# --- the realm's scopes: restricted, optional, echoed (policy_restricted.yaml) --------------


async def test_restricted_scope_is_registered_by_a_manage_clients_bearer(
    client: httpx.AsyncClient,
) -> None:
    token = await admin_token(client, "policy_restricted")
    registered = await register(client, "policy_restricted", token, scope="openid admin.read")
    assert registered["scope"] == "openid admin.read"


async def creator_token(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/realms/policy_restricted/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        auth=("creator", "creator-secret"),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.mark.parametrize("caller", ["create-client bearer", "initial access token", "anonymous"])
async def test_restricted_scope_without_manage_clients_is_403(
    client: httpx.AsyncClient, caller: str
) -> None:
    token: str | None = None
    if caller == "create-client bearer":
        token = await creator_token(client)
    elif caller == "initial access token":
        token = await initial_access_token(client, "policy_restricted")
    body = {"redirect_uris": [RP], "scope": "openid admin.read"}
    response = await post_client(client, body, "policy_restricted", token)
    assert response.status_code == 403, response.text
    assert error_of(response) == "insufficient_scope"
    assert response.json()["error_description"] == "scope admin.read needs the manage-clients role"
    if caller == "initial access token":
        # the refusal did not use up the initial access token
        accepted = await post_client(client, RP_ONLY, "policy_restricted", token)
        assert accepted.status_code == 201, accepted.text


async def test_client_holding_a_restricted_scope_updates_itself_with_its_rat(
    client: httpx.AsyncClient,
) -> None:
    # RFC 7592 §2.2: the PUT carries all the metadata, so the scope granted comes back
    token = await admin_token(client, "policy_restricted")
    registered = await register(client, "policy_restricted", token, scope="openid admin.read")
    updated = await put_metadata(client, registered, client_name="renamed")
    assert updated.status_code == 200, updated.text
    assert updated.json()["scope"] == "openid admin.read"


async def test_offline_access_is_requestable_and_the_scope_echoed(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await register(client, "policy_restricted", scope="openid offline_access")
    assert anonymous["scope"] == "openid offline_access"
    read = await get_client(client, anonymous, rat_of(anonymous))
    assert read.json()["scope"] == "openid offline_access"
    with_iat = await register_with_iat(
        client, "policy_restricted", scope="openid phone offline_access"
    )
    assert with_iat["scope"] == "openid phone offline_access"


# --- Keycloak's default sets (policy_default.yaml has no `registration` key) -----------------


async def test_default_anonymous_set_refuses_with_trusted_hosts(
    client: httpx.AsyncClient,
) -> None:
    response = await post_client(client, {"redirect_uris": [RP]}, "policy_default")
    assert_refused(response, *host_refused())


async def test_default_authenticated_set_accepts_the_optional_scopes(
    client: httpx.AsyncClient,
) -> None:
    scope = "openid profile email address phone offline_access"
    registered = await register_with_iat(client, "policy_default", scope=scope)
    assert registered["scope"] == scope
    view = await admin_view(client, "policy_default", registered["client_id"])
    assert (view["consentRequired"], view["fullScopeAllowed"], view["enabled"]) == (
        False,
        True,
        True,
    )


async def test_default_authenticated_set_accepts_a_pairwise_subject(
    client: httpx.AsyncClient,
) -> None:
    registered = await register_with_iat(client, "policy_default", subject_type="pairwise")
    assert registered["subject_type"] == "pairwise"


async def test_default_authenticated_set_refuses_a_scope_outside_the_realm(
    client: httpx.AsyncClient,
) -> None:
    token = await initial_access_token(client, "policy_default")
    body = {"redirect_uris": [RP], "scope": "openid admin"}
    response = await post_client(client, body, "policy_default", token)
    # as in Keycloak, the set's allowed-client-scopes policy refuses a scope it does not allow,
    # whether the realm has that scope or not
    assert_refused(
        response, "Allowed Client Scopes", "Not permitted to use specified clientScope: admin"
    )
    # the refusal did not use up the token
    accepted = await post_client(client, {"redirect_uris": [RP]}, "policy_default", token)
    assert accepted.status_code == 201, accepted.text


# --- hot reload in-process ---------------------------------------------------------------------


def reload_realms(app: Starlette) -> list[str]:
    container: Container = app.state.container
    return [str(error) for error in container.realms.reload()]


def flag_policies(extra: str) -> str:
    """A realm file whose anonymous set is loopback only, plus the policies in `extra`."""
    return (
        "registration:\n"
        "  anonymous:\n"
        "    - type: trusted-hosts\n"
        "      trusted-hosts: ['127.0.0.1']\n"
        "      client-uris-must-match: false\n"
        f"{extra}"
        "service_accounts:\n"
        "  - client_id: admin\n"
        "    secret: admin-secret\n"
        "    roles: [manage-clients]\n"
    )


SETS_ALLOWING_PHONE = """\
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["127.0.0.1"]
      client-uris-must-match: false
    - type: allowed-client-scopes
      allowed-client-scopes: [phone]
service_accounts:
  - client_id: admin
    secret: admin-secret
    roles: [manage-clients]
"""


async def test_edited_realm_file_applies_its_new_policy_after_a_reload(
    client: httpx.AsyncClient, app: Starlette, realms_dir: Path
) -> None:
    body = {"redirect_uris": [RP], "scope": "openid phone"}
    refused = await post_client(client, body, "policy_sets")
    assert_refused(
        refused, "Allowed Client Scopes", "Not permitted to use specified clientScope: phone"
    )
    (realms_dir / "policy_sets.yaml").write_text(SETS_ALLOWING_PHONE)
    assert reload_realms(app) == []
    accepted = await post_client(client, body, "policy_sets")
    assert accepted.status_code == 201, accepted.text


async def test_broken_edit_keeps_the_realm_as_last_loaded(
    client: httpx.AsyncClient,
    app: Starlette,
    realms_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = realms_dir / "policy_sets.yaml"
    path.write_text(SETS_ALLOWING_PHONE)
    assert reload_realms(app) == []
    broken = SETS_ALLOWING_PHONE.replace("type: allowed-client-scopes", "type: no-such-policy")
    path.write_text(broken)
    with caplog.at_level(logging.ERROR):
        errors = reload_realms(app)
    assert len(errors) == 1 and errors[0].startswith(f"{path}:6: "), errors
    assert any(errors[0] in record.getMessage() for record in caplog.records)
    # the realm works as last loaded: phone still allowed, stranger still refused
    body = {"redirect_uris": [RP], "scope": "openid phone"}
    accepted = await post_client(client, body, "policy_sets")
    assert accepted.status_code == 201, accepted.text
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    path.write_text("registration: [\n")  # not even YAML
    assert len(reload_realms(app)) == 1
    assert (await post_client(client, body, "policy_sets")).status_code == 201
    assert (await client.get("/health")).status_code == 200


async def test_client_keeps_a_scope_the_edited_realm_no_longer_allows_on_update(
    client: httpx.AsyncClient, app: Starlette, realms_dir: Path
) -> None:
    # Keycloak's allowed-client-scopes beforeUpdate allows "scopes, which were already
    # presented before"; only scopes new to the client are checked
    registered = await register(client, "policy_scopes", scope="openid offline_access")
    path = realms_dir / "policy_scopes.yaml"
    path.write_text(path.read_text().replace("[offline_access]", "[]"))
    assert reload_realms(app) == []
    body = {"redirect_uris": [RP], "scope": "openid offline_access"}
    assert_refused(
        await post_client(client, body, "policy_scopes"),
        "Allowed Client Scopes",
        "Not permitted to use specified clientScope: offline_access",
    )
    kept = await put_metadata(client, registered, client_name="kept")
    assert kept.status_code == 200, kept.text
    assert kept.json()["scope"] == "openid offline_access"
    assert_refused(
        await put_metadata(client, kept.json(), scope="openid offline_access email"),
        "Allowed Client Scopes",
        "Not permitted to use specified clientScope: email",
    )


async def test_a_scope_allowed_by_the_policy_but_not_in_the_realm_is_400(
    client: httpx.AsyncClient, app: Starlette, realms_dir: Path
) -> None:
    # the policy lets "legacy" through; the realm has no such scope to give
    (realms_dir / "policy_added.yaml").write_text(
        SETS_ALLOWING_PHONE.replace("[phone]", "[legacy]")
    )
    assert reload_realms(app) == []
    response = await post_client(client, {"redirect_uris": [RP], "scope": "legacy"}, "policy_added")
    assert response.status_code == 400, response.text
    assert error_of(response) == "invalid_client_metadata"
    assert response.json()["error_description"] == "unknown scope legacy"


async def test_added_and_removed_realm_files_come_and_go_but_clients_stay(
    client: httpx.AsyncClient, app: Starlette, realms_dir: Path
) -> None:
    path = realms_dir / "policy_added.yaml"
    assert_error(
        await post_client(client, {"redirect_uris": [RP]}, "policy_added"), 404, "not_found"
    )
    path.write_text(SETS_ALLOWING_PHONE)
    assert reload_realms(app) == []
    registered = await register(client, "policy_added", scope="phone")
    path.unlink()
    assert reload_realms(app) == []
    gone = await get_client(client, registered, rat_of(registered))
    assert_error(gone, 404, "not_found")
    path.write_text(SETS_ALLOWING_PHONE)
    assert reload_realms(app) == []
    back = await get_client(client, registered, rat_of(registered))
    assert back.status_code == 200, back.text
    assert back.json()["scope"] == "phone"
