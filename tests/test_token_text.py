"""Token text is canonical (RFC 7515 §2, RFC 4648 §3.5): a token verifies only in the one
base64url spelling it was issued in. Padding, or a last character whose unused bits differ
(the same bytes, another text), is refused before any signature is checked."""

from __future__ import annotations

import httpx
import pytest

from app.auth.secret_values import b64url, b64url_decode, b64url_decode_canonical
from tests.helpers import (
    basic,
    bearer,
    client_path,
    clients_path,
    get_client,
    rat_of,
    register,
    service_token,
)

pytestmark = pytest.mark.anyio

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def same_bytes_other_text(part: str) -> str:
    """`part` with its last character's unused low bits set: it decodes to the same bytes."""
    unused = (6 * len(part)) % 8
    assert unused, "a part whose length leaves no unused bits has one spelling only"
    last = ALPHABET.index(part[-1])
    sibling = part[:-1] + ALPHABET[last ^ 1]
    assert b64url_decode(sibling) == b64url_decode(part)
    return sibling


def variants(token: str) -> dict[str, str]:
    header, payload, signature = token.split(".")
    return {
        "padded signature": f"{header}.{payload}.{signature}{'=' * (-len(signature) % 4) or '=='}",
        "signature with unused bits set": f"{header}.{payload}.{same_bytes_other_text(signature)}",
        "header with unused bits set": f"{same_bytes_other_text(header)}.{payload}.{signature}"
        if (6 * len(header)) % 8
        else f"{header}=.{payload}.{signature}",
    }


def test_canonical_decoding_accepts_only_the_issued_spelling() -> None:
    text = b64url(b"\xff\xee\xdd\xcc\xbb")
    assert b64url_decode_canonical(text) == b"\xff\xee\xdd\xcc\xbb"
    for bad in (text + "=", same_bytes_other_text(text), text + "AA", "a+b/", "a b"):
        with pytest.raises(ValueError):
            b64url_decode_canonical(bad)


async def test_an_access_token_verifies_only_as_issued(client: httpx.AsyncClient) -> None:
    token = await service_token(client, "admin")
    assert (await client.get(clients_path(), headers=bearer(token))).status_code == 200
    for name, other in variants(token).items():
        response = await client.get(clients_path(), headers=bearer(other))
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_token", name


async def test_introspection_calls_a_respelled_token_inactive(client: httpx.AsyncClient) -> None:
    token = await service_token(client, "admin")
    auth = {"Authorization": basic("admin", "admin-secret")}
    path = "/realms/open/protocol/openid-connect/token/introspect"
    live = await client.post(path, data={"token": token}, headers=auth)
    assert live.json()["active"] is True
    for name, other in variants(token).items():
        answer = await client.post(path, data={"token": other}, headers=auth)
        assert answer.status_code == 200, name
        assert answer.json() == {"active": False}, name


async def test_a_registration_access_token_verifies_only_as_issued(
    client: httpx.AsyncClient,
) -> None:
    """Refused twice over: the text is not canonical, and the stored digest is of the text."""
    registered = await register(client)
    assert (await get_client(client, registered, rat_of(registered))).status_code == 200
    for name, other in variants(rat_of(registered)).items():
        response = await client.get(client_path(registered), headers=bearer(other))
        assert response.status_code == 401, name
        assert response.json()["error"] == "invalid_token", name
