"""A code's replay revokes what its first use issued, in whichever order the two finish
(RFC 6749 §4.1.2): the replay may revoke the grant family before the first use has stored it,
and that family then stays revoked. Both databases."""

from __future__ import annotations

import pytest

from app.store.database import open_database
from app.store.signin import CodeRow, SigninStore

pytestmark = pytest.mark.anyio
REALM = "people"
NOW = 1_900_000_000


def code_row() -> CodeRow:
    return CodeRow(
        client_id="c1", redirect_uri="http://127.0.0.1/cb", code_challenge=None, scope="openid",
        nonce=None, resource_json="[]", username="alice", auth_time=NOW, expires_at=NOW + 60,
        used_at=0, family_id=None,
    )  # fmt: skip


@pytest.mark.parametrize("replay_first", [True, False], ids=["replay-first", "first-use-first"])
async def test_the_first_uses_family_ends_revoked(database_url: str, replay_first: bool) -> None:
    db = open_database(database_url)
    db.create_schema()
    await db.start()
    try:
        signin = SigninStore(db)
        await signin.put_code(REALM, "d" * 64, code_row())
        first, won = await signin.redeem_code(REALM, "d" * 64, "family-1", NOW)
        assert first is not None and won
        replay, won_again = await signin.redeem_code(REALM, "d" * 64, "family-2", NOW + 1)
        assert replay is not None and not won_again and replay.family_id == "family-1"
        if replay_first:  # the replay's revocation lands before the first use stores its family
            await signin.revoke_code_family(REALM, replay, NOW + 1800)
            await signin.put_family(REALM, "family-1", "c1", "alice", NOW + 1800, NOW)
        else:
            await signin.put_family(REALM, "family-1", "c1", "alice", NOW + 1800, NOW)
            await signin.revoke_code_family(REALM, replay, NOW + 1800)
        assert not await signin.family_live(REALM, "family-1")
    finally:
        await db.stop()
