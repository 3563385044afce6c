"""Concurrent sign-ins share statements on PostgreSQL (app.store.batching): their session reads
one query, the codes they issue one insert, the codes they redeem one update, the grant families
they start one insert. Every caller must still get its own session, have its own code and family
stored whole whatever its texts, and of racing uses of one code exactly one wins; a text
PostgreSQL refuses fails its own request only. On SQLite (one statement each) the same answers."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from app.store.signin import CodeRow, NewRefresh, RefreshRow, SigninStore

pytestmark = pytest.mark.anyio
REALM = "people"
NOW = 1_900_000_000

# quotes, backslashes, commas, braces, the word NULL, the empty string, controls, non-ASCII
AWKWARD = ['b"c', "d\\e", "x,y", "{z}", "NULL", "", "tab\there", "ü€😀", 'a\\"b']


@pytest.fixture
def signin(signin_store: SigninStore) -> SigninStore:
    return signin_store


def code_of(n: int, text: str) -> CodeRow:
    return CodeRow(
        client_id=f"client {text}", redirect_uri=f"https://rp.example/cb?{text}",
        code_challenge=None if n % 2 else f"challenge {text}", scope=f"openid {text}",
        nonce=None if n % 3 == 0 else text, resource_json='["https://api.example/"]',
        username=f"user {text}", auth_time=NOW + n, expires_at=NOW + 60 + n, used_at=0,
        family_id=None,
    )  # fmt: skip


async def test_concurrent_codes_are_each_stored_whole(signin: SigninStore) -> None:
    codes = {f"{n:064x}": code_of(n, text) for n, text in enumerate(AWKWARD * 3)}
    await asyncio.gather(*(signin.put_code(REALM, digest, code) for digest, code in codes.items()))
    redeemed = await asyncio.gather(
        *(signin.redeem_code(REALM, digest, f"family-{digest[-4:]}", NOW) for digest in codes)
    )
    for (digest, code), (row, won) in zip(codes.items(), redeemed, strict=True):
        assert won
        assert row == dataclasses.replace(code, used_at=NOW, family_id=f"family-{digest[-4:]}")


async def test_a_code_postgresql_refuses_fails_alone(signin: SigninStore) -> None:
    good = {f"{n:064x}": code_of(n, "fine") for n in range(6)}
    bad = dataclasses.replace(code_of(99, "fine"), nonce="nul\x00inside")
    results = await asyncio.gather(
        *(signin.put_code(REALM, digest, code) for digest, code in good.items()),
        signin.put_code(REALM, "b" * 64, bad),
        return_exceptions=True,
    )
    if signin.db.dialect == "postgresql":
        assert isinstance(results[-1], Exception)  # SQLite keeps the NUL, as it always did
    assert results[:-1] == [None] * len(good)
    for digest in good:
        row, won = await signin.redeem_code(REALM, digest, "family", NOW)
        assert won and row is not None


async def test_concurrent_session_reads_answer_each_session(signin: SigninStore) -> None:
    for n, text in enumerate(AWKWARD):
        await signin.put_session(REALM, f"live-{n}", f"user {text}", NOW - n, NOW + 100 + n)
    await signin.put_session(REALM, "expired", "old", NOW - 200, NOW)  # expires at NOW exactly
    await signin.put_session("elsewhere", "other-realm", "someone", NOW, NOW + 100)
    asked = [f"live-{n}" for n in range(len(AWKWARD))] + ["expired", "other-realm", "unknown"]
    found = await asyncio.gather(*(signin.get_session(REALM, d, NOW) for d in asked * 4))
    expected = [(f"user {text}", NOW - n, NOW + 100 + n) for n, text in enumerate(AWKWARD)] + [
        None,
        None,
        None,
    ]
    seen = [(s.username, s.auth_time, s.expires_at) if s else None for s in found]
    assert seen == expected * 4
    # a session ended after a read answered is gone for the next one
    await signin.delete_session(REALM, "live-0")
    assert await signin.get_session(REALM, "live-0", NOW) is None
    assert await signin.get_session(REALM, "nul\x00id", NOW) is None


async def test_racing_first_uses_in_one_batch_have_one_winner_per_code(
    signin: SigninStore,
) -> None:
    codes = {f"{n:064x}": code_of(n, text) for n, text in enumerate(AWKWARD)}
    for digest, code in codes.items():
        await signin.put_code(REALM, digest, code)
    # three uses of every code at once, each with a family id of its own
    uses = [(digest, f"family-{digest[-3:]}-{k}") for digest in codes for k in range(3)]
    results = await asyncio.gather(*(signin.redeem_code(REALM, d, f, NOW) for d, f in uses))
    for digest in codes:
        mine = [(f, row, won) for (d, f), (row, won) in zip(uses, results, strict=True)
                if d == digest]  # fmt: skip
        winners = [f for f, _, won in mine if won]
        assert len(winners) == 1, mine
        # the others are replays, shown the family id the winning use recorded
        for _, row, _ in mine:
            assert row is not None and row.family_id == winners[0] and row.used_at == NOW
    assert await signin.redeem_code(REALM, "f" * 64, "family-x", NOW) == (None, False)


async def test_concurrent_families_are_stored_with_their_first_refresh_tokens(
    signin: SigninStore,
) -> None:
    families = [f"family {text}" for text in AWKWARD]
    await asyncio.gather(
        *(
            signin.put_family(
                REALM, family, f"client {n}", f"user {AWKWARD[n]}", NOW + 60, NOW - n,
                first_refresh=None if n % 3 == 0 else NewRefresh(
                    f"{n:064x}", family, f"client {n}", f"user {AWKWARD[n]}",
                    f"openid {AWKWARD[n]}", '["https://api.example/"]', NOW - n, NOW + 3600,
                ),
            )
            for n, family in enumerate(families)
        )
    )  # fmt: skip
    for n, family in enumerate(families):
        assert await signin.family_live(REALM, family)
        refresh = await signin.get_refresh(REALM, f"{n:064x}")
        if n % 3 == 0:
            assert refresh is None
        else:
            assert refresh == RefreshRow(family, f"client {n}", f"user {AWKWARD[n]}",
                                         f"openid {AWKWARD[n]}", '["https://api.example/"]',
                                         NOW - n, NOW + 3600, False)  # fmt: skip
    # a family a replay revoked before its first use stored it stays revoked
    code = dataclasses.replace(code_of(0, "x"), family_id="family-revoked-first")
    await signin.revoke_code_family(REALM, code, NOW + 60)
    await signin.put_family(REALM, "family-revoked-first", "c", "u", NOW + 60, NOW)
    assert not await signin.family_live(REALM, "family-revoked-first")
