"""Software statements (RFC 7591 §2.3, docs/reference.md): a vendor's signed JWT verified
against the realm's trusted issuers (RS256, PS256, ES256, EdDSA), its claims winning over the
body's, echoed back; `required`, `policy_set`, keys at a `jwks_uri`, and software_id /
software_version in the admin views. In-process, on SQLite."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwcrypto import jwk, jwt

from tests.helpers import (
    JSON,
    RP,
    admin,
    assert_error,
    clients_path,
    dcr_path,
    get_client,
    put_client,
    rat_of,
    updatable,
)
from tests.inprocess import STRANGER, TRUSTED, in_process, make_settings
from tests.live import free_port
from tests.test_console import console, signed_in

pytestmark = pytest.mark.anyio

VENDOR = "https://vendor.example.org"
KEYS = {
    "RS256": jwk.JWK.generate(kty="RSA", size=2048, kid="vendor-rsa"),
    "ES256": jwk.JWK.generate(kty="EC", crv="P-256", kid="vendor-ec"),
    "EdDSA": jwk.JWK.generate(kty="OKP", crv="Ed25519", kid="vendor-okp"),
}
KEYS["PS256"] = KEYS["RS256"]
# the same kid as the vendor's RSA key, another key: a forged signature
IMPOSTOR = jwk.JWK.generate(kty="RSA", size=2048, kid="vendor-rsa")
ADMIN = {"client_id": "admin", "secret": "admin-secret", "roles": ["manage-clients"]}


def public_jwks(*keys: jwk.JWK) -> JSON:
    return {"keys": [key.export_public(as_dict=True) for key in keys]}


VENDOR_JWKS = public_jwks(KEYS["RS256"], KEYS["ES256"], KEYS["EdDSA"])


def realm_file(statements: JSON, anonymous: list[JSON] | None = None) -> str:
    """A realm file (JSON is YAML) trusting loopback for anonymous registration."""
    trusted = {"type": "trusted-hosts", "trusted-hosts": [TRUSTED], "client-uris-must-match": False}
    realm = {
        "registration": {"anonymous": anonymous or [trusted], "authenticated": []},
        "software_statements": statements,
        "service_accounts": [ADMIN],
    }
    return json.dumps(realm)


VOUCHED = realm_file({"trusted_issuers": [{"issuer": VENDOR, "jwks": VENDOR_JWKS}]})


def statement(claims: JSON | None = None, alg: str = "RS256", key: jwk.JWK | None = None) -> str:
    """A software statement of the vendor: its software, an hour to live."""
    now = int(time.time())
    body: JSON = {
        "iss": VENDOR,
        "iat": now,
        "exp": now + 3600,
        "software_id": "4NRB1-0XZABZI9E6-5SM3R",
        "software_version": "2.1",
        "client_name": "Example Statement-based Client",
        "token_endpoint_auth_method": "none",
        **(claims or {}),
    }
    signer = key or KEYS[alg]
    token = jwt.JWT(header={"alg": alg, "kid": signer.get("kid")}, claims=body)
    token.make_signed_token(signer)
    return str(token.serialize())


def unsigned(claims: JSON, header: JSON) -> str:
    """A JWS whose header says what the test wants: unsigned (`none`) or with a shared secret."""
    if header["alg"] == "none":
        parts = (json.dumps(header).encode(), json.dumps(claims).encode())
        return ".".join(base64.urlsafe_b64encode(p).decode().rstrip("=") for p in parts) + "."
    token = jwt.JWT(header=header, claims=claims)
    token.make_signed_token(jwk.JWK(kty="oct", k="c2hhcmVkLXNlY3JldC1vZi10aGUtdmVuZG9yLTMyYnl0ZXM"))
    return str(token.serialize())


@contextlib.asynccontextmanager
async def realm_app(
    tmp_path: Path, realms_dir: Path, sqlite_url: str, text: str, host: str = TRUSTED
) -> AsyncIterator[httpx.AsyncClient]:
    (realms_dir / "vouched.yaml").write_text(text)
    async with in_process(make_settings(tmp_path, realms_dir, sqlite_url), host=host) as http:
        yield http


@pytest.fixture
async def vouched(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with realm_app(tmp_path, realms_dir, sqlite_url, VOUCHED) as http:
        yield http


async def post(http: httpx.AsyncClient, body: JSON) -> httpx.Response:
    return await http.post(dcr_path("vouched"), json=body)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "EdDSA"])
async def test_a_valid_statement_is_applied_and_echoed(
    vouched: httpx.AsyncClient, alg: str
) -> None:
    sent = statement(alg=alg)
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": sent})
    assert response.status_code == 201, response.text
    registered = response.json()
    assert registered["software_statement"] == sent
    assert registered["software_id"] == "4NRB1-0XZABZI9E6-5SM3R"
    assert registered["software_version"] == "2.1"
    assert registered["client_name"] == "Example Statement-based Client"
    assert "client_secret" not in registered  # the statement made it a public client
    for claim in ("iss", "iat", "exp"):
        assert claim not in registered  # claims about the statement are not client metadata
    read = await get_client(vouched, registered, rat_of(registered))
    assert read.status_code == 200
    assert read.json()["software_statement"] == sent


async def test_the_statement_wins_over_the_body(vouched: httpx.AsyncClient) -> None:
    vendor_uri = "https://app.vendor.example.org/callback"
    sent = statement({"redirect_uris": [vendor_uri], "client_name": "Vendor's name"})
    body = {
        "redirect_uris": [RP],
        "client_name": "Body's name",
        "software_id": "made-up",
        "token_endpoint_auth_method": "client_secret_basic",
        "logo_uri": "https://rp.example.org/logo.png",  # only in the body: kept
        "software_statement": sent,
    }
    response = await post(vouched, body)
    assert response.status_code == 201, response.text
    registered = response.json()
    assert registered["redirect_uris"] == [vendor_uri]
    assert registered["client_name"] == "Vendor's name"
    assert registered["software_id"] == "4NRB1-0XZABZI9E6-5SM3R"
    assert registered["token_endpoint_auth_method"] == "none"
    assert registered["logo_uri"] == "https://rp.example.org/logo.png"


async def test_an_expired_statement_is_invalid(vouched: httpx.AsyncClient) -> None:
    hour_ago = int(time.time()) - 3600
    sent = statement({"iat": hour_ago - 60, "exp": hour_ago})
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": sent})
    assert_error(response, 400, "invalid_software_statement")
    assert "expired" in response.json()["error_description"]


async def test_a_statement_from_the_future_is_invalid(vouched: httpx.AsyncClient) -> None:
    later = int(time.time()) + 3600
    for claims in ({"nbf": later}, {"iat": later, "exp": later + 60}):
        response = await post(
            vouched, {"redirect_uris": [RP], "software_statement": statement(claims)}
        )
        assert_error(response, 400, "invalid_software_statement")


async def test_a_wrong_signature_is_invalid(vouched: httpx.AsyncClient) -> None:
    forged = statement(key=IMPOSTOR)
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": forged})
    assert_error(response, 400, "invalid_software_statement")
    assert "signature" in response.json()["error_description"]
    header, payload, signature = statement().split(".")
    tampered = ".".join((header, statement({"software_id": "other"}).split(".")[1], signature))
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": tampered})
    assert_error(response, 400, "invalid_software_statement")


async def test_an_untrusted_issuer_is_unapproved(vouched: httpx.AsyncClient) -> None:
    sent = statement({"iss": "https://other-vendor.example.org"})
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": sent})
    assert_error(response, 400, "unapproved_software_statement")
    response = await post(
        vouched, {"redirect_uris": [RP], "software_statement": statement({"iss": None})}
    )
    assert_error(response, 400, "invalid_software_statement")  # RFC 7591 §2.3: iss is a MUST


@pytest.mark.parametrize("alg", ["none", "HS256"])
async def test_alg_none_and_shared_secrets_are_refused(
    vouched: httpx.AsyncClient, alg: str
) -> None:
    now = int(time.time())
    claims = {"iss": VENDOR, "iat": now, "exp": now + 600, "software_id": "x"}
    sent = unsigned(claims, {"alg": alg, "kid": "vendor-rsa"})
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": sent})
    assert_error(response, 400, "invalid_software_statement")
    assert "alg" in response.json()["error_description"]


@pytest.mark.parametrize("sent", ["", "not-a-jwt", "a.b.c", 42, ["x"], "e30.e30.e30"])
async def test_malformed_statements_are_invalid(vouched: httpx.AsyncClient, sent: Any) -> None:
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": sent})
    assert_error(response, 400, "invalid_software_statement")


async def test_a_required_statement(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> None:
    text = realm_file(
        {"required": True, "trusted_issuers": [{"issuer": VENDOR, "jwks": VENDOR_JWKS}]}
    )
    async with realm_app(tmp_path, realms_dir, sqlite_url, text) as http:
        response = await post(http, {"redirect_uris": [RP]})
        assert_error(response, 400, "invalid_software_statement")
        assert "software_statement" in response.json()["error_description"]
        response = await post(http, {"redirect_uris": [RP], "software_statement": statement()})
        assert response.status_code == 201, response.text
        registered = response.json()
        # an update without the statement keeps it, and what it vouched for
        body = {**updatable(registered), "client_name": "Renamed"}
        del body["software_statement"]
        updated = await put_client(http, registered, rat_of(registered), body)
        assert updated.status_code == 200, updated.text
        assert updated.json()["client_name"] == "Example Statement-based Client"
        assert updated.json()["software_statement"] == registered["software_statement"]
        # an admin vouches for a client itself
        headers = await admin(http, "vouched")
        by_admin = await http.post(
            dcr_path("vouched"), json={"redirect_uris": [RP]}, headers=headers
        )
        assert by_admin.status_code == 201, by_admin.text


async def test_an_update_with_a_new_statement(vouched: httpx.AsyncClient) -> None:
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": statement()})
    registered = response.json()
    newer = statement({"software_version": "2.2"})
    body = {**updatable(registered), "software_statement": newer, "software_version": "9"}
    updated = await put_client(vouched, registered, rat_of(registered), body)
    assert updated.status_code == 200, updated.text
    assert updated.json()["software_version"] == "2.2"
    assert updated.json()["software_statement"] == newer
    expired = statement({"iat": 1, "exp": 2})
    body = {**updatable(updated.json()), "software_statement": expired}
    refused = await put_client(vouched, registered, rat_of(updated.json()), body)
    assert_error(refused, 400, "invalid_software_statement")


async def test_policy_set_authenticated_for_vouched_registrations(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    """From an address the anonymous policies do not trust, only a vouched registration passes:
    it runs through the authenticated set (no trusted-hosts, no consent-required)."""
    statements = {
        "policy_set": "authenticated",
        "trusted_issuers": [{"issuer": VENDOR, "jwks": VENDOR_JWKS}],
    }
    anonymous: list[JSON] = [
        {"type": "trusted-hosts", "trusted-hosts": [TRUSTED], "client-uris-must-match": False},
        {"type": "consent-required"},
    ]
    text = realm_file(statements, anonymous)
    async with realm_app(tmp_path, realms_dir, sqlite_url, text, host=STRANGER) as http:
        refused = await post(http, {"redirect_uris": [RP]})
        assert_error(refused, 403, "insufficient_scope")
        response = await post(http, {"redirect_uris": [RP], "software_statement": statement()})
        assert response.status_code == 201, response.text
        registered = response.json()
        # its RAT acts under the authenticated set too
        body = {**updatable(registered), "logo_uri": "https://rp.example.org/logo.png"}
        updated = await put_client(http, registered, rat_of(registered), body)
        assert updated.status_code == 200, updated.text
        shown = await http.get(
            f"{clients_path('vouched')}/{registered['client_id']}",
            headers=await admin(http, "vouched"),
        )
        assert shown.json()["registrationAuth"] == "authenticated"
        assert shown.json()["consentRequired"] is False


async def test_policy_set_anonymous_keeps_the_anonymous_policies(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    statements = {"trusted_issuers": [{"issuer": VENDOR, "jwks": VENDOR_JWKS}]}
    text = realm_file(statements)
    async with realm_app(tmp_path, realms_dir, sqlite_url, text, host=STRANGER) as http:
        response = await post(http, {"redirect_uris": [RP], "software_statement": statement()})
        assert_error(response, 403, "insufficient_scope")


async def test_software_id_and_version_in_the_admin_views(vouched: httpx.AsyncClient) -> None:
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": statement()})
    client_id = response.json()["client_id"]
    headers = await admin(vouched, "vouched")
    one = await vouched.get(f"{clients_path('vouched')}/{client_id}", headers=headers)
    assert one.status_code == 200
    attributes = {"software_id": "4NRB1-0XZABZI9E6-5SM3R", "software_version": "2.1"}
    # among the client's other attributes (Keycloak's own, such as use.refresh.tokens)
    assert one.json()["attributes"].items() >= attributes.items()
    listed = await vouched.get(clients_path("vouched"), headers=headers)
    found = [c["attributes"] for c in listed.json() if c["clientId"] == client_id]
    assert len(found) == 1 and found[0].items() >= attributes.items()
    await signed_in(vouched, realm="vouched")
    page = await vouched.get(f"{console('vouched')}/clients/{client_id}")
    assert page.status_code == 200
    assert "4NRB1-0XZABZI9E6-5SM3R" in page.text
    assert "Software version" in page.text


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    """/jwks.json: the key set; /moved: a redirect to it; /huge: it, padded past 1 MiB."""

    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/jwks.json")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.body
        if self.path == "/huge":
            padded = {**json.loads(self.body), "padding": "x" * (1 << 20)}
            body = json.dumps(padded).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silent: the standard handler would print a line per request to stderr."""


@contextlib.contextmanager
def jwks_server(jwks: JSON) -> Iterator[str]:
    """A JWKS document served on 127.0.0.1; its URL."""
    handler = type("Handler", (_JwksHandler,), {"body": json.dumps(jwks).encode()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


async def test_keys_from_a_jwks_uri(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}/jwks.json"  # nothing listens there
    with jwks_server(public_jwks(KEYS["ES256"])) as url:
        statements = {
            "trusted_issuers": [
                {"issuer": VENDOR, "jwks_uri": url},
                {"issuer": "https://gone.example.org", "jwks_uri": dead},
            ]
        }
        async with realm_app(tmp_path, realms_dir, sqlite_url, realm_file(statements)) as http:
            sent = statement(alg="ES256")
            response = await post(http, {"redirect_uris": [RP], "software_statement": sent})
            assert response.status_code == 201, response.text
            forged = statement(alg="RS256", key=IMPOSTOR)
            response = await post(http, {"redirect_uris": [RP], "software_statement": forged})
            assert_error(response, 400, "invalid_software_statement")
            gone = statement({"iss": "https://gone.example.org"}, alg="ES256")
            response = await post(http, {"redirect_uris": [RP], "software_statement": gone})
            assert_error(response, 400, "invalid_software_statement")
            assert "cannot be fetched" in response.json()["error_description"]


async def test_the_indigo_path_verifies_statements(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    realm = json.loads(VOUCHED)
    realm["compat"] = {"indigo_iam": True}
    async with realm_app(tmp_path, realms_dir, sqlite_url, json.dumps(realm)) as http:
        path = "/realms/vouched/iam/api/client-registration"
        body = {
            "redirect_uris": [RP],
            "software_statement": statement({"iss": "https://x.example"}),
        }
        response = await http.post(path, json=body)
        assert_error(response, 400, "unapproved_software_statement")
        body["software_statement"] = statement()
        response = await http.post(path, json=body)
        assert response.status_code == 201, response.text
        assert response.json()["software_statement"] == body["software_statement"]


async def test_the_stored_statement_sent_back_after_its_expiry(
    vouched: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An RFC 7592 PUT sends back what it read: the stored statement is not verified again, so
    its expiry does not block the client's updates; a new statement is."""
    response = await post(vouched, {"redirect_uris": [RP], "software_statement": statement()})
    registered = response.json()
    two_hours_later = int(time.time()) + 7200
    monkeypatch.setattr("app.web.routes.registration.now", lambda: two_hours_later)
    body = {**updatable(registered), "logo_uri": "https://rp.example.org/logo.png"}
    updated = await put_client(vouched, registered, rat_of(registered), body)
    assert updated.status_code == 200, updated.text
    assert updated.json()["software_statement"] == registered["software_statement"]
    body = {**updatable(updated.json()), "software_statement": statement({"client_name": "x"})}
    refused = await put_client(vouched, registered, rat_of(updated.json()), body)
    assert_error(refused, 400, "invalid_software_statement")  # made now, expired by then


async def test_jwks_redirects_are_not_followed_and_size_is_capped(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    with jwks_server(public_jwks(KEYS["ES256"])) as url:
        moved, huge = url.replace("/jwks.json", "/moved"), url.replace("/jwks.json", "/huge")
        statements = {
            "trusted_issuers": [
                {"issuer": "https://moved.example.org", "jwks_uri": moved},
                {"issuer": "https://huge.example.org", "jwks_uri": huge},
            ]
        }
        async with realm_app(tmp_path, realms_dir, sqlite_url, realm_file(statements)) as http:
            for issuer in ("https://moved.example.org", "https://huge.example.org"):
                sent = statement({"iss": issuer}, alg="ES256")
                response = await post(http, {"redirect_uris": [RP], "software_statement": sent})
                assert_error(response, 400, "invalid_software_statement")
                assert "cannot be fetched" in response.json()["error_description"]


async def test_a_realm_trusting_no_vendor_approves_no_statement(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    async with realm_app(tmp_path, realms_dir, sqlite_url, realm_file({})) as http:
        response = await post(http, {"redirect_uris": [RP], "software_statement": statement()})
        assert_error(response, 400, "unapproved_software_statement")
        assert (await post(http, {"redirect_uris": [RP]})).status_code == 201
