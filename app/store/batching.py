"""Batching by key: calls of one key that arrive while a call of that key is in flight wait and
go together in the next one (group commit for writes, one query for many reads).

Why, on PostgreSQL:
- Every registration with an initial access token updates that token's row, and the row lock is
  held until the commit has flushed the WAL, so registrations of one token commit strictly one
  after another, each paying a round trip and a flush. Batched, the k registrations that queued
  up during one commit share the next one.
- Every read of a client is a round trip that wakes a database process; k reads of one realm
  that queued up during one become a single `client_id = ANY(...)` query.
When nothing is in flight a call starts on the next turn of the event loop (no timer: an idle
server adds no wait); under load the batches grow by themselves. A read batch starts after each
of its calls arrived, so it sees every commit made before any of them.

What a batch means is the batch function's business (app.store.queries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from app.store.errors import DatabaseUnavailable

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the conventional name for an item type
R = TypeVar("R")

MAX_BATCH = 64  # bounds one statement's size; more waiting calls go in the next batch


class KeyedBatcher(Generic[K, I, R]):
    """`run(key, items)` returns one result per item, in order; an exception it raises is
    every item's of that batch."""

    def __init__(self, run: Callable[[K, list[I]], Awaitable[list[R]]]) -> None:
        self._run = run
        self._queues: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._drains: set[asyncio.Task[None]] = set()  # strong references while they run

    async def submit(self, key: K, item: I) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is not None:
            queue.append((item, done))  # a call of this key is in flight: join the next one
        else:
            self._queues[key] = [(item, done)]
            drain = asyncio.create_task(self._drain(key))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await done

    async def _drain(self, key: K) -> None:
        queue = self._queues[key]
        try:
            # one turn of the event loop before the first batch: requests the server read along
            # with this one run up to their own call meanwhile and join it, where without the
            # turn they would start batches of their own (each a commit, or a round trip to
            # PostgreSQL); scripts/bench measured the larger batches at a seventh more
            # registrations and updates a second
            await asyncio.sleep(0)
            while queue:  # bounded: every pass takes at least one item off
                batch = queue[:MAX_BATCH]
                del queue[:MAX_BATCH]
                try:
                    results = await self._run(key, [item for item, _ in batch])
                except Exception as exc:
                    _fail(batch, exc)
                    continue
                except BaseException:
                    _fail(batch, DatabaseUnavailable("The server is shutting down"))
                    raise
                for (_, done), result in zip(batch, results, strict=True):
                    if not done.done():  # its request may have been cancelled meanwhile
                        done.set_result(result)
        finally:
            # nothing awaits between the last `while queue` and here: no write is stranded,
            # unless this task itself was cancelled (server shutdown)
            del self._queues[key]
            _fail(queue, DatabaseUnavailable("The server is shutting down"))


def _fail(batch: Sequence[tuple[object, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, done in batch:
        if not done.done():
            done.set_exception(exc)
