"""Group commit (app.store.batching) and the grouped initial-access-token spend of
app.store.queries.

The live races of tests/test_iat_race.py check the guarantee across real server processes;
these check the grouping itself: that concurrent writes of one key do share a commit, that a
group that cannot be spent whole falls back to exactly as many winners as uses remained, and
that a failing commit fails every write of its group and nothing else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.store.batching import MAX_BATCH, KeyedBatcher
from app.store.errors import DatabaseUnavailable
from app.store.queries import ClientRow, ClientUpdate, InitialAccessTokenRow, Store
from tests.helpers import (
    RP,
    admin,
    assert_error,
    async_wait_until,
    bearer,
    clients_path,
    dcr_path,
    error_of,
    get_client,
    iat_path,
    put_client,
    rat_of,
    register,
    updatable,
)
from tests.inprocess import in_process, make_settings

pytestmark = pytest.mark.anyio


class Recorder:
    """A commit function that records its groups and answers item * 10 (or raises)."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.groups: list[tuple[str, list[int]]] = []
        self.fail_on = fail_on
        self.release = asyncio.Event()
        self.release.set()

    async def commit(self, key: str, items: list[int]) -> list[int]:
        self.groups.append((key, list(items)))
        await self.release.wait()
        if self.fail_on is not None and self.fail_on in items:
            raise DatabaseUnavailable("the database went away")
        return [item * 10 for item in items]


async def test_an_idle_key_commits_at_once_alone() -> None:
    recorder = Recorder()
    grouped = KeyedBatcher(recorder.commit)
    assert await grouped.submit("a", 1) == 10
    assert await grouped.submit("a", 2) == 20
    assert recorder.groups == [("a", [1]), ("a", [2])]


async def test_calls_made_on_the_first_calls_turn_share_its_batch() -> None:
    # requests the server read along with the first start after its batch was scheduled: the
    # batch waits one turn of the event loop for them
    recorder = Recorder()
    grouped = KeyedBatcher(recorder.commit)
    first = asyncio.create_task(grouped.submit("a", 1))
    await asyncio.sleep(0)  # the first call has submitted: its batch is scheduled
    rest = [asyncio.create_task(grouped.submit("a", n)) for n in (2, 3)]
    assert await first == 10
    assert [await task for task in rest] == [20, 30]
    assert recorder.groups == [("a", [1, 2, 3])]


async def test_writes_arriving_during_a_commit_share_the_next_one() -> None:
    recorder = Recorder()
    recorder.release.clear()
    grouped = KeyedBatcher(recorder.commit)
    first = asyncio.create_task(grouped.submit("a", 1))
    await async_wait_until(lambda: recorder.groups, timeout=5, what="the first commit")
    # the first commit is now in flight, held by `release`
    rest = [asyncio.create_task(grouped.submit("a", n)) for n in range(2, 12)]
    other_key = asyncio.create_task(grouped.submit("b", 99))
    await asyncio.sleep(0)  # one pass of the loop: each new task submits (no time passes)
    recorder.release.set()
    assert await first == 10
    assert [await task for task in rest] == [n * 10 for n in range(2, 12)]
    assert await other_key == 990
    assert ("a", [1]) in recorder.groups
    assert ("a", list(range(2, 12))) in recorder.groups  # ten writes, one commit
    assert ("b", [99]) in recorder.groups  # keys never share a commit


async def test_a_failed_commit_fails_its_group_only() -> None:
    recorder = Recorder(fail_on=3)
    recorder.release.clear()
    grouped = KeyedBatcher(recorder.commit)
    first = asyncio.create_task(grouped.submit("a", 1))
    await async_wait_until(lambda: recorder.groups, timeout=5, what="the first commit")
    doomed = [asyncio.create_task(grouped.submit("a", n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)  # one pass of the loop: each new task submits (no time passes)
    recorder.release.set()
    assert await first == 10
    for task in doomed:
        with pytest.raises(DatabaseUnavailable):
            await task
    assert await grouped.submit("a", 5) == 50  # the key works again afterwards


async def test_groups_are_bounded() -> None:
    recorder = Recorder()
    recorder.release.clear()
    grouped = KeyedBatcher(recorder.commit)
    tasks = [asyncio.create_task(grouped.submit("a", n)) for n in range(MAX_BATCH * 2 + 1)]
    await asyncio.sleep(0)  # one pass of the loop: each new task submits (no time passes)
    recorder.release.set()
    assert [await task for task in tasks] == [n * 10 for n in range(MAX_BATCH * 2 + 1)]
    assert max(len(items) for _, items in recorder.groups) == MAX_BATCH


# --- the grouped spend, in-process on SQLite and PostgreSQL -----------------------------------


@pytest.fixture
async def http(
    tmp_path: Path, realms_dir: Path, database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(make_settings(tmp_path, realms_dir, database_url)) as client:
        yield client


async def _race(http: httpx.AsyncClient, count: int, racers: int) -> tuple[list[int], int]:
    """`racers` concurrent registrations on one count-`count` token: (statuses, remaining)."""
    headers = await admin(http)
    created = await http.post(iat_path(), json={"count": count}, headers=headers)
    assert created.status_code == 200, created.text
    token = created.json()["token"]
    responses = await asyncio.gather(
        *(
            http.post(dcr_path(), json={"redirect_uris": [RP]}, headers=bearer(token))
            for _ in range(racers)
        )
    )
    for refused in (r for r in responses if r.status_code == 401):
        assert error_of(refused) == "invalid_token"  # the token's uses are spent
    winners = {r.json()["client_id"] for r in responses if r.status_code == 201}
    listed = await http.get(clients_path(), params={"max": 1000}, headers=headers)
    assert {row["clientId"] for row in listed.json()} == winners  # a 201 is stored, a 401 not
    tokens = (await http.get(iat_path(), headers=headers)).json()
    return sorted(r.status_code for r in responses), tokens[0]["remainingCount"]


@pytest.fixture
def spends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """(group size, spent) of every grouped spend."""
    seen: list[tuple[int, bool]] = []
    original = Store._spend_and_insert

    async def recording(
        self: Store, key: tuple[str, str, str], group: list[tuple[ClientRow, int]]
    ) -> bool:
        spent = await original(self, key, group)
        seen.append((len(group), spent))
        return spent

    monkeypatch.setattr(Store, "_spend_and_insert", recording)
    return seen


async def test_a_token_with_enough_uses_serves_every_racer(
    http: httpx.AsyncClient, spends: list[tuple[int, bool]]
) -> None:
    statuses, left = await _race(http, count=100, racers=60)
    assert statuses == [201] * 60
    assert left == 40
    assert max(size for size, _ in spends) > 1, spends  # the racers did share commits
    assert all(spent for _, spent in spends)


async def test_a_group_larger_than_the_uses_left_yields_exactly_that_many(
    http: httpx.AsyncClient, spends: list[tuple[int, bool]]
) -> None:
    statuses, left = await _race(http, count=25, racers=60)
    assert statuses == [201] * 25 + [401] * 35
    assert left == 0
    # some group was refused whole (more racers than uses) and retried one by one
    assert any(size > 1 and not spent for size, spent in spends), spends
    assert sum(size for size, spent in spends if spent) == 25


# --- batched updates (PUT), in-process on SQLite and PostgreSQL ---------------------------------


@pytest.fixture
def updates(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every batch of client updates (ask for it before `http`: the store binds
    its batch function when the app is made)."""
    seen: list[int] = []
    original = Store._replace_clients

    async def recording(self: Store, realm: str, batch: list[ClientUpdate]) -> list[bool]:
        seen.append(len(batch))
        return await original(self, realm, batch)

    monkeypatch.setattr(Store, "_replace_clients", recording)
    return seen


async def test_concurrent_updates_of_many_clients_all_land(
    updates: list[int], http: httpx.AsyncClient
) -> None:
    clients = [await register(http) for _ in range(20)]
    responses = await asyncio.gather(
        *(
            put_client(http, c, rat_of(c), {**updatable(c), "client_name": f"renamed {n}"})
            for n, c in enumerate(clients)
        )
    )
    assert [r.status_code for r in responses] == [200] * 20
    assert max(updates) > 1, updates  # they did share transactions
    for n, (client, response) in enumerate(zip(clients, responses, strict=True)):
        stored = await get_client(http, client, response.json()["registration_access_token"])
        assert stored.json()["client_name"] == f"renamed {n}"


async def test_racing_updates_with_one_rat_in_one_batch_let_exactly_one_win(
    updates: list[int], http: httpx.AsyncClient
) -> None:
    client = await register(http)
    rat = rat_of(client)
    responses = await asyncio.gather(
        *(
            put_client(http, client, rat, {**updatable(client), "client_name": f"racer {n}"})
            for n in range(30)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 29, statuses
    for refused in (r for r in responses if r.status_code == 401):
        assert error_of(refused) == "invalid_token"  # the RAT was rotated by the winner
    assert max(updates) > 1, updates  # the racers met in one batch
    winner = next(r for r in responses if r.status_code == 200).json()
    stored = await get_client(http, client, winner["registration_access_token"])
    assert stored.json()["client_name"] == winner["client_name"]
    assert_error(await get_client(http, client, rat), 401, "invalid_token")


# --- revocation lookups (every introspection), on SQLite and PostgreSQL -----------------------


async def test_concurrent_revocation_lookups_answer_each_token(database_url: str) -> None:
    store = Store.for_url(database_url)
    store.db.create_schema()
    await store.start()
    try:
        await store.revoke_token("open", "revoked-1", 2_000_000_000)
        await store.revoke_token("open", "revoked-2", 2_000_000_000)
        await store.revoke_token("other", "revoked-elsewhere", 2_000_000_000)
        asked = ["revoked-1", "live-1", "revoked-2", "revoked-elsewhere", "live-2"] * 20
        answers = await asyncio.gather(*(store.is_revoked("open", jti) for jti in asked))
        assert answers == [jti in ("revoked-1", "revoked-2") for jti in asked]
        # a revocation made after a lookup answered is seen by the next one
        await store.revoke_token("open", "live-1", 2_000_000_000)
        assert await store.is_revoked("open", "live-1")
    finally:
        await store.stop()


# --- what batched statements carry: any text, unchanged, on SQLite and PostgreSQL --------------

# texts a hand-made array literal or JSON text could get wrong: quotes, backslashes, commas,
# braces, the word NULL, the empty string, spaces, controls and characters beyond ASCII
AWKWARD = ['b"c', "d\\e", "x,y", "{z}", "NULL", "", " sp ", "tab\there", "ü€😀", 'a\\"b']


async def test_batched_inserts_reads_and_updates_keep_every_text(database_url: str) -> None:
    store = Store.for_url(database_url)
    store.db.create_schema()
    await store.start()
    try:
        await store.insert_initial_access_token(
            InitialAccessTokenRow("iat-1", "open", 0, None, 100, 100), "iat-digest"
        )
        rows = [
            ClientRow(
                f"client-{n}", "open", json.dumps({"client_name": text, "n": n}),
                None if n % 2 else f"sealed {text}", f"rat {text}", "iat", n % 3 == 0,
                n % 2 == 0, n % 4 == 0, 1_000 + n, 2_000 + n,
                registered_by=None if n % 2 else text,
            )
            for n, text in enumerate(AWKWARD)
        ]  # fmt: skip
        # at once, so the inserts share batches (one statement each on PostgreSQL)
        await asyncio.gather(
            *(store.insert_client(row, ("iat-1", "iat-digest"), None, 3_000) for row in rows)
        )
        read = await asyncio.gather(*(store.get_client("open", row.client_id) for row in rows))
        assert read == rows
        updates = [
            ClientUpdate(
                row.client_id, "open", json.dumps({"client_name": text[::-1]}), f"new {text}",
                False, None if n % 2 else f"rat2 {text}", n % 2 == 1, n % 3 == 1, 4_000,
                row.rat_digest if row.enabled else None,  # a RAT's update, or an admin's
            )
            for n, (row, text) in enumerate(zip(rows, AWKWARD, strict=True))
        ]  # fmt: skip
        changed = await asyncio.gather(*(store.replace_client(u) for u in updates))
        assert changed == [True] * len(updates)
        for row, update in zip(rows, updates, strict=True):
            stored = await store.get_client("open", row.client_id)
            assert stored is not None
            assert stored.metadata_json == update.metadata_json
            assert stored.secret_sealed == update.secret_sealed
            assert stored.rat_digest == (update.rat_digest or row.rat_digest)
            assert stored.consent_required == (row.consent_required or update.requires_consent)
            assert stored.full_scope_allowed == (row.full_scope_allowed and not update.limits_scope)
            assert stored.updated_at == 4_000
    finally:
        await store.stop()


async def test_batched_lookups_find_ids_of_any_text(database_url: str) -> None:
    store = Store.for_url(database_url)
    store.db.create_schema()
    await store.start()
    try:
        chosen = [f"id {text}" for text in AWKWARD]
        for n, client_id in enumerate(chosen):
            row = ClientRow(client_id, "open", "{}", None, f"rat-{n}", "anonymous", True, False,
                            True, 1, 1, id=f"key-{n}")  # fmt: skip
            await store.insert_client(row, None, None, 1)
            await store.revoke_token("open", f"jti {AWKWARD[n]}", 2_000_000_000)
        asked = [*chosen, "id missing", *chosen]
        found = await asyncio.gather(*(store.get_client("open", c) for c in asked))
        assert [row.client_id if row else None for row in found] == [*chosen, None, *chosen]
        jtis = [f"jti {text}" for text in AWKWARD] + ["jti live"]
        answers = await asyncio.gather(*(store.is_revoked("open", jti) for jti in jtis))
        assert answers == [True] * len(AWKWARD) + [False]
    finally:
        await store.stop()


async def test_client_reads_with_a_revocation_answer_each_pair(database_url: str) -> None:
    # an introspection reads its caller's row and its token's revocation in one query; batched
    # on PostgreSQL, every pair of a batch must still get its own client and its own answer
    store = Store.for_url(database_url)
    store.db.create_schema()
    await store.start()
    try:
        for n, client_id in enumerate(["client-a", "client-b", f"id {AWKWARD[0]}"]):
            row = ClientRow(client_id, "open", "{}", None, f"rat-{n}", "anonymous", True, False,
                            True, 1, 1, id=f"key-{n}")  # fmt: skip
            await store.insert_client(row, None, None, 1)
        elsewhere = ClientRow("client-x", "other", "{}", None, "rat-x", "anonymous", True, False,
                              True, 1, 1, id="key-x")  # fmt: skip
        await store.insert_client(elsewhere, None, None, 1)
        for realm, jti in [("open", "jti-r1"), ("open", f"jti {AWKWARD[1]}"), ("other", "jti-x")]:
            await store.revoke_token(realm, jti, 2_000_000_000)
        cases = {
            ("client-a", "jti-r1"): ("client-a", True),
            ("client-a", "jti-live"): ("client-a", False),
            ("client-b", f"jti {AWKWARD[1]}"): ("client-b", True),
            ("client-b", "jti-x"): ("client-b", False),  # revoked, but in another realm
            (f"id {AWKWARD[0]}", "jti-r1"): (f"id {AWKWARD[0]}", True),
            ("client-x", "jti-r1"): (None, False),  # a client of another realm: not found
            ("client-missing", "jti-r1"): (None, False),
        }
        asked = list(cases) * 10
        answers = await asyncio.gather(
            *(store.get_client_and_revoked("open", c, jti) for c, jti in asked)
        )
        seen = [(row.client_id if row else None, revoked) for row, revoked in answers]
        assert seen == [cases[pair] for pair in asked]
        # a revocation made after a lookup answered is seen by the next one
        await store.revoke_token("open", "jti-live", 2_000_000_000)
        found, revoked = await store.get_client_and_revoked("open", "client-a", "jti-live")
        assert found is not None and revoked
    finally:
        await store.stop()
