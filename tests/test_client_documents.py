"""Client ID Metadata Documents (docs/reference.md §7), black-box in-process: a client whose
client_id is its document's URL signs a user in end to end; documents that break a rule get the
authorization endpoint's HTML error page (400, never a redirect) or `invalid_client` at the token
endpoint. The documents are served by a small server on 127.0.0.1 (`allow_loopback_http`)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.document_server import (
    DocumentServer,
    document_realms,
    document_server,
    documents_section,
)
from tests.helpers import clients_path, token_path
from tests.signin_flow import (
    CALLBACK,
    PEOPLE,
    auth_params,
    auth_path,
    oidc_path,
    pkce,
    post_form,
    redirect_query,
)

pytestmark = pytest.mark.anyio

DOCUMENTS = documents_section(fetch_timeout=0.5)
# the same realm with documents refused from loopback: what a public deployment runs
PUBLIC_ONLY = """
client_id_metadata_documents:
  enabled: true
"""


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    target = document_realms(tmp_path, fetch_timeout=0.5)
    (target / "public.yaml").write_text(PEOPLE + PUBLIC_ONLY)
    strict = PEOPLE.replace("client-uris-must-match: false", "client-uris-must-match: true")
    (target / "strict.yaml").write_text(strict + DOCUMENTS)
    scoped = PEOPLE.replace(
        "  authenticated: []",
        "    - type: allowed-client-scopes\n      allowed-client-scopes: []\n  authenticated: []",
    )
    (target / "scoped.yaml").write_text(scoped + DOCUMENTS)
    return target


@pytest.fixture
def docs() -> Iterator[DocumentServer]:
    with document_server() as server:
        yield server


def document(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": url,
        "client_name": "Document Notes",
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "scope": "openid profile",
        **extra,
    }


def serve_document(docs: DocumentServer, path: str = "/client.json", **extra: Any) -> str:
    url = docs.url(path)
    docs.serve(path, document(url, **extra))
    return url


def params(url: str, challenge: str, **extra: str) -> dict[str, str]:
    return auth_params(url, challenge, scope="openid profile", **extra)


async def refused_page(client: httpx.AsyncClient, url: str, realm: str = "people") -> str:
    _, challenge = pkce()
    page = await client.get(auth_path(realm), params=params(url, challenge))
    assert page.status_code == 400, page.text
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    return html.unescape(page.text)


async def test_a_document_client_signs_a_user_in_end_to_end(
    client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    url = serve_document(docs, headers={"Cache-Control": "public, max-age=600"})
    discovery = await client.get("/realms/people/.well-known/openid-configuration")
    assert discovery.json()["client_id_metadata_document_supported"] is True
    verifier, challenge = pkce()
    login = await client.get(auth_path(), params=params(url, challenge))
    assert login.status_code == 200 and "Document Notes" in login.text
    consent = await post_form(client, login, username="alice", password="alice-password")
    # consent is asked the first time, and names where the answer goes
    assert consent.status_code == 200, consent.text
    assert 'name="accept"' in consent.text and "rp.example.org" in consent.text
    done = await post_form(client, consent, accept="yes")
    code = redirect_query(done)["code"]
    tokens = await client.post(
        oidc_path("token"),
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": url,
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    refreshed = await client.post(
        oidc_path("token"),
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": url,
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    # consent was remembered; the document was fetched once (cached in the database)
    again = await client.get(auth_path(), params=params(url, challenge))
    assert again.status_code == 302 and "code=" in again.headers["location"]
    assert docs.hits["/client.json"] == 1
    # the admin views list the client, marked as a document's
    admin = await client.post(
        token_path("people"),
        data={"grant_type": "client_credentials"},
        auth=("admin", "admin-secret"),
    )
    listed = await client.get(
        clients_path("people"),
        params={"clientId": url},
        headers={"Authorization": f"Bearer {admin.json()['access_token']}"},
    )
    assert listed.status_code == 200, listed.text
    [shown] = listed.json()
    assert shown["clientId"] == url and shown["registrationAuth"] == "document"
    assert shown["consentRequired"] is True and shown["publicClient"] is True


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"client_id": "http://127.0.0.1:1/other.json"}, "another client_id"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "client_secret_basic"),
        ({"client_secret": "s3cret"}, "client_secret"),
        ({"token_endpoint_auth_method": "private_key_jwt"}, "jwks"),
        ({"client_name": "x" * 6000}, "larger than 5120 bytes"),
    ],
)
async def test_a_document_breaking_a_rule_gets_the_error_page(
    client: httpx.AsyncClient, docs: DocumentServer, answer: dict[str, Any], reason: str
) -> None:
    url = docs.url("/client.json")
    docs.serve("/client.json", {**document(url), **answer})
    assert reason in await refused_page(client, url)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"status": 302, "headers": {"Location": "/elsewhere.json"}}, "redirects"),
        ({"content_type": "text/html"}, "not application/json"),
        ({"delay": 2.0}, "did not answer within 0.5 s"),
        ({"status": 404}, "HTTP status 404"),
    ],
)
async def test_a_document_that_cannot_be_fetched_gets_the_error_page(
    client: httpx.AsyncClient, docs: DocumentServer, options: dict[str, Any], reason: str
) -> None:
    url = docs.url("/client.json")
    docs.serve("/client.json", document(url), **options)
    docs.serve("/elsewhere.json", document(url))
    assert reason in await refused_page(client, url)
    assert docs.hits["/elsewhere.json"] == 0  # a redirect is never followed


async def test_a_redirect_uri_the_document_does_not_list_gets_the_error_page(
    client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    url = serve_document(docs)
    _, challenge = pkce()
    page = await client.get(
        auth_path(), params=params(url, challenge, redirect_uri="https://evil.example.net/cb")
    )
    assert page.status_code == 400 and "location" not in page.headers
    assert "redirect_uri is not registered" in page.text


@pytest.mark.parametrize(
    ("client_id", "reason"),
    [
        ("https://10.0.0.7/client.json", "a private address"),
        ("https://169.254.169.254/latest/meta-data.json", "a link-local address"),
        ("https://[::ffff:192.168.1.1]/client.json", "a private address"),
        ("https://[fe80::1]/client.json", "link-local"),
        ("https://127.0.0.1:1/client.json", "a loopback address"),
        ("https://localhost:1/client.json", "a loopback address"),  # by name
        ("https://0.0.0.0/client.json", "unspecified"),
        ("http://127.0.0.1:1/client.json", "must use https"),
        ("https://rp.example.org/", "must have a path"),
        ("https://user:pw@rp.example.org/client.json", "username or password"),
        ("https://rp.example.org/a/../client.json", ". or .. path segments"),
    ],
)
async def test_documents_at_private_addresses_are_never_fetched(
    client: httpx.AsyncClient, client_id: str, reason: str
) -> None:
    assert reason in await refused_page(client, client_id, realm="public")


async def test_a_document_client_that_breaks_a_rule_is_an_invalid_client_at_the_token_endpoint(
    client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    url = docs.url("/liar.json")
    docs.serve("/liar.json", document("https://somebody.example.org/else.json"))
    answer = await client.post(
        oidc_path("token"),
        data={"grant_type": "authorization_code", "code": "x" * 43, "client_id": url},
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert "another client_id" in answer.json()["error_description"]


async def test_a_realm_without_documents_knows_no_url_clients(
    client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    url = serve_document(docs)
    assert "not registered" in await refused_page(client, url, realm="open")
    discovery = await client.get("/realms/open/.well-known/openid-configuration")
    assert "client_id_metadata_document_supported" not in discovery.json()
    assert docs.hits["/client.json"] == 0


async def test_the_realms_anonymous_policies_judge_a_document(
    client: httpx.AsyncClient, docs: DocumentServer
) -> None:
    # trusted-hosts on client URIs: rp.example.org is not a trusted host of this realm
    url = serve_document(docs)
    assert "doesn't match any trusted host" in await refused_page(client, url, realm="strict")
    # allowed-client-scopes: a scope the anonymous policies do not allow
    other = serve_document(docs, "/scoped.json", scope="openid phone")
    assert "Not permitted to use specified clientScope: phone" in await refused_page(
        client, other, realm="scoped"
    )
