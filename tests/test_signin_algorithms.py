"""tokens.signing_alg (docs/reference.md §6): RS256, ES256 or EdDSA for a realm's access and ID
tokens, client_credentials tokens too; every key in the realm's JWKS, each with its `alg`; the
ES256 and EdDSA keys the same in every process (derived from the realm's sealed secret)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from authlib.jose import JsonWebKey, jwt

from app.auth.tokens import RealmKeys
from tests.helpers import admin, basic, clients_path, jws_parts
from tests.signin_flow import (
    CALLBACK,
    PEOPLE,
    auth_params,
    people_realms,
    pkce,
    public_client,
    redirect_query,
    sign_in,
)

pytestmark = pytest.mark.anyio
ALGS = ("ES256", "EdDSA")


@pytest.fixture
def realms_dir(tmp_path: Path) -> Path:
    target = people_realms(tmp_path)
    for alg in ALGS:
        (target / f"alg-{alg.lower()}.yaml").write_text(PEOPLE + f"tokens:\n  signing_alg: {alg}\n")
    return target


@pytest.mark.parametrize("alg", ALGS)
async def test_a_realm_signs_with_its_algorithm(client: httpx.AsyncClient, alg: str) -> None:
    realm = f"alg-{alg.lower()}"
    oidc = f"/realms/{realm}/protocol/openid-connect"
    metadata = (await client.get(f"/realms/{realm}/.well-known/openid-configuration")).json()
    assert metadata["id_token_signing_alg_values_supported"] == [alg]
    jwks = (await client.get(f"{oidc}/certs")).json()
    assert {key["alg"] for key in jwks["keys"]} == {"RS256", "ES256", "EdDSA"}
    keys = JsonWebKey.import_key_set(jwks)
    registered = await public_client(client, realm)
    verifier, challenge = pkce()
    done = await sign_in(client, auth_params(registered["client_id"], challenge), realm)
    reply = await client.post(
        f"{oidc}/token",
        data={
            "grant_type": "authorization_code",
            "code": redirect_query(done)["code"],
            "redirect_uri": CALLBACK,
            "client_id": registered["client_id"],
            "code_verifier": verifier,
        },
    )
    body = reply.json()
    for token in (body["access_token"], body["id_token"]):
        header, _ = jws_parts(token)
        assert header["alg"] == alg
        jwt.decode(token, keys).validate()  # authlib checks the signature with the JWKS
    info = await client.get(
        f"{oidc}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert info.json()["sub"] == "alice"
    # client_credentials tokens too, and they work as bearers of the admin API
    service = await client.post(
        f"{oidc}/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic("admin", "admin-secret")},
    )
    assert jws_parts(service.json()["access_token"])[0]["alg"] == alg
    listing = await client.get(clients_path(realm), headers=await admin(client, realm))
    assert listing.status_code == 200


def test_derived_keys_are_the_same_in_every_process_and_differ_by_realm() -> None:
    first = RealmKeys.generate()
    again = RealmKeys.from_private_json(first.to_private_json())
    other = RealmKeys.generate()
    for alg in ALGS:
        assert first.signing_key(alg).thumbprint() == again.signing_key(alg).thumbprint()
        assert first.signing_key(alg).thumbprint() != other.signing_key(alg).thumbprint()
    assert all("d" not in key for key in first.public_jwks()["keys"])
