"""The per-process cache of verified initial and registration access tokens (app.auth.callers):
it saves re-verifying a token's signature, never a check of time or of the store."""

from __future__ import annotations

import time

import httpx
import pytest

from app.auth.callers import Caller, VerifiedTokens
from tests.helpers import (
    RP,
    admin,
    async_wait_until,
    bearer,
    dcr_path,
    error_of,
    get_client,
    iat_path,
    put_client,
    rat_of,
    register,
    updatable,
)

pytestmark = pytest.mark.anyio

RAT = Caller("registration_access_token", token="t.r.s", jti="r")


def test_a_token_is_known_per_realm() -> None:
    known = VerifiedTokens()
    known.add("open", RAT)
    assert known.get("open", "t.r.s", now=100) == RAT
    assert known.get("locked", "t.r.s", now=100) is None


def test_an_expired_token_is_not_served_from_the_cache() -> None:
    known = VerifiedTokens()
    iat = Caller("initial_access_token", token="t.i.s", jti="i", expires_at=150)
    known.add("open", iat)
    assert known.get("open", "t.i.s", now=149) == iat
    assert known.get("open", "t.i.s", now=150) is None


def test_bearer_tokens_and_anonymous_callers_are_never_kept() -> None:
    known = VerifiedTokens()
    known.add("open", Caller("bearer", token="b.b.b"))
    known.add("open", Caller("anonymous"))
    assert known.get("open", "b.b.b", now=0) is None
    assert known.get("open", "", now=0) is None


def test_the_cache_is_bounded() -> None:
    known = VerifiedTokens()
    for n in range(VerifiedTokens.MAX_ENTRIES + 10):
        known.add("open", Caller("registration_access_token", token=f"t.{n}.s", jti=str(n)))
    assert len(known._known) <= VerifiedTokens.MAX_ENTRIES
    assert known.get("open", f"t.{VerifiedTokens.MAX_ENTRIES + 9}.s", now=0) is not None


async def test_a_used_token_still_expires(client: httpx.AsyncClient) -> None:
    created = await client.post(
        iat_path(), json={"count": 5, "expiration": 2}, headers=await admin(client)
    )
    assert created.status_code == 200, created.text
    token = created.json()["token"]
    body = {"redirect_uris": [RP]}
    assert (await client.post(dcr_path(), json=body, headers=bearer(token))).status_code == 201
    expiry = created.json()["timestamp"] + 2
    # the app reads the real clock, which the test cannot move: wait until a second past expiry
    await async_wait_until(
        lambda: time.time() >= expiry + 1, timeout=5, what="the token to expire", interval=0.2
    )
    late = await client.post(dcr_path(), json=body, headers=bearer(token))
    assert late.status_code == 401
    assert error_of(late) == "invalid_token"


async def test_a_rotated_rat_is_refused_although_it_was_verified_before(
    client: httpx.AsyncClient,
) -> None:
    registered = await register(client)
    old = rat_of(registered)
    assert (await get_client(client, registered, old)).status_code == 200  # now cached
    updated = await put_client(client, registered, old, updatable(registered))
    assert updated.status_code == 200, updated.text
    stale = await get_client(client, registered, old)
    assert stale.status_code == 401
    assert error_of(stale) == "invalid_token"
