"""A code's replay revokes what its first use issued, in whichever order the two finish
(RFC 6749 §4.1.2): the replay may revoke the grant family before the first use has stored it,
and that family then stays revoked. Both databases."""

from __future__ import annotations

import pytest

from app.store.signin import CodeRow, NewRefresh, SigninStore

pytestmark = pytest.mark.anyio
REALM = "people"
NOW = 1_900_000_000


def code_row() -> CodeRow:
    return CodeRow(
        client_id="c1", redirect_uri="http://127.0.0.1/cb", code_challenge=None, scope="openid",
        nonce=None, resource_json="[]", username="alice", auth_time=NOW, expires_at=NOW + 60,
        used_at=0, family_id=None,
    )  # fmt: skip


@pytest.fixture
async def signin(signin_store: SigninStore) -> SigninStore:
    """The sign-in store on a fresh database, holding one unused code ("d" * 64)."""
    await signin_store.put_code(REALM, "d" * 64, code_row())
    return signin_store


def first_refresh() -> NewRefresh:
    return NewRefresh("r" * 64, "family-1", "c1", "alice", "openid", "[]", NOW, NOW + 3600)


@pytest.mark.parametrize("with_refresh", [False, True], ids=["no-refresh", "with-refresh"])
@pytest.mark.parametrize("replay_first", [True, False], ids=["replay-first", "first-use-first"])
async def test_the_first_uses_family_ends_revoked(
    signin: SigninStore, replay_first: bool, with_refresh: bool
) -> None:
    first, won = await signin.redeem_code(REALM, "d" * 64, "family-1", NOW)
    assert first is not None and won
    replay, won_again = await signin.redeem_code(REALM, "d" * 64, "family-2", NOW + 1)
    assert replay is not None and not won_again and replay.family_id == "family-1"
    refresh = first_refresh() if with_refresh else None
    if replay_first:  # the replay's revocation lands before the first use stores its family
        await signin.revoke_code_family(REALM, replay, NOW + 1800)
        await signin.put_family(REALM, "family-1", "c1", "alice", NOW + 1800, NOW, refresh)
    else:
        await signin.put_family(REALM, "family-1", "c1", "alice", NOW + 1800, NOW, refresh)
        await signin.revoke_code_family(REALM, replay, NOW + 1800)
    assert not await signin.family_live(REALM, "family-1")
    stored = await signin.get_refresh(REALM, "r" * 64)
    assert (stored is not None) == with_refresh


async def test_a_first_refresh_token_is_stored_with_its_family(signin: SigninStore) -> None:
    first, won = await signin.redeem_code(REALM, "d" * 64, "family-1", NOW)
    assert first is not None and won and first.family_id == "family-1" and first.used_at == NOW
    unknown, won_unknown = await signin.redeem_code(REALM, "e" * 64, "family-2", NOW)
    assert unknown is None and not won_unknown
    # the refresh token outlives the family's asked expiry: the family lives as long
    await signin.put_family(REALM, "family-1", "c1", "alice", NOW + 60, NOW, first_refresh())
    assert await signin.family_live(REALM, "family-1")
    stored = await signin.get_refresh(REALM, "r" * 64)
    assert stored is not None and stored.family_id == "family-1" and not stored.rotated
    assert stored.expires_at == NOW + 3600
    assert await signin.sweep(NOW + 61) == 1  # only the code's row, expired at NOW + 60
    assert await signin.family_live(REALM, "family-1")
    assert await signin.sweep(NOW + 3601) == 2  # then the token and its family together
