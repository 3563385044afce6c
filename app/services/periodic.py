"""What is kept in memory and written to the database every few tenths of a second (events, the
uses of clients), so a request pays no write of its own: a flush loop started and stopped with
the server, whose last flush writes what is left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod


class PeriodicFlush(ABC):
    """Subclasses keep what to write and say how in `flush()`; a failed flush is logged and
    tried again on the next tick."""

    interval: float = 0.5
    log: logging.Logger = logging.getLogger("registrar")

    _flusher: asyncio.Task[None] | None = None

    @abstractmethod
    async def flush(self) -> None: ...

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_every())

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def _flush_every(self) -> None:
        while True:  # until stop() cancels it
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:
                self.log.exception("%s: writing failed; retrying", type(self).__name__)
