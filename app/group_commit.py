"""Group commit: writes of one key that arrive while a commit of that key is in flight wait and
go together in the next commit.

Why: on PostgreSQL every registration with an initial access token updates that token's row,
and the row lock is held until the commit has flushed the WAL, so registrations of one token
commit strictly one after another, each paying a round trip and a flush. Grouped, the k
registrations that queued up during one commit share the next one. When nothing is in flight
a write starts at once, so an idle server adds no wait; under load the groups grow by themselves.

What a group means is the commit function's business (app.store: one statement spends k uses of
the token, only if k remain, and inserts k rows; else each is retried alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

from app.errors import ServiceUnavailable

K = TypeVar("K", bound=Hashable)
I = TypeVar("I")  # noqa: E741 - the conventional name for an item type
R = TypeVar("R")

MAX_GROUP = 64  # bounds one statement's size; more waiting writes go in the next group


class GroupCommit(Generic[K, I, R]):
    """`commit(key, items)` returns one result per item, in order; an exception it raises is
    every item's of that group."""

    def __init__(self, commit: Callable[[K, list[I]], Awaitable[list[R]]]) -> None:
        self._commit = commit
        self._queues: dict[K, list[tuple[I, asyncio.Future[R]]]] = {}
        self._drains: set[asyncio.Task[None]] = set()  # strong references while they run

    async def submit(self, key: K, item: I) -> R:
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        queue = self._queues.get(key)
        if queue is not None:
            queue.append((item, done))  # a commit of this key is in flight: join the next one
        else:
            self._queues[key] = [(item, done)]
            drain = asyncio.create_task(self._drain(key))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await done

    async def _drain(self, key: K) -> None:
        queue = self._queues[key]
        try:
            while queue:  # bounded: every pass takes at least one item off
                group = queue[:MAX_GROUP]
                del queue[:MAX_GROUP]
                try:
                    results = await self._commit(key, [item for item, _ in group])
                except Exception as exc:
                    _fail(group, exc)
                    continue
                except BaseException:
                    _fail(group, ServiceUnavailable("The server is shutting down"))
                    raise
                for (_, done), result in zip(group, results, strict=True):
                    if not done.done():  # its request may have been cancelled meanwhile
                        done.set_result(result)
        finally:
            # nothing awaits between the last `while queue` and here: no write is stranded,
            # unless this task itself was cancelled (server shutdown)
            del self._queues[key]
            _fail(queue, ServiceUnavailable("The server is shutting down"))


def _fail(group: Sequence[tuple[object, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, done in group:
        if not done.done():
            done.set_exception(exc)
