"""Background jobs (APScheduler 3, on the serving event loop): sweep dead initial access
tokens, poll realm files.

Both jobs are idempotent, so every process sharing a database may run them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from app.container import Container
from app.services.rate_limits import LONGEST_WINDOW

log = logging.getLogger("registrar.scheduler")


async def sweep_initial_access_tokens(container: Container) -> int:
    """docs/reference.md §4: expired and used-up initial access tokens are removed."""
    now = int(time.time())
    removed = await container.store.sweep_initial_access_tokens(now)
    if removed:
        log.info("removed %d expired or used-up initial access tokens", removed)
    # revocations of tokens that have expired anyway are no longer needed
    await container.store.sweep_revoked_tokens(now)
    await container.store.sweep_rate_counters(now - LONGEST_WINDOW)
    realms = [r for name in container.realms.names() if (r := container.realms.get(name))]
    await container.events.sweep(realms, now)
    for realm in realms:  # clients unused for the realm's client_expiry.unused_after
        await container.uses.expire(realm, now)
    # expired sign-in sessions, codes, refresh tokens and grant families (docs/reference.md §6)
    await container.signin_store.sweep(now)
    await container.broker_store.sweep(now)  # sign-ins at the upstream never finished
    return removed


async def reload_realms(container: Container) -> None:
    """An edited, added or removed realm file takes effect within 5 seconds (docs/reference.md
    §2)."""
    # reading and parsing YAML files is blocking file work: off the event loop
    for error in await asyncio.to_thread(container.realms.reload):
        log.debug("realm file error: %s", error)


def start_scheduler(container: Container) -> AsyncIOScheduler:
    """Must be called on the running event loop that serves requests."""
    scheduler = AsyncIOScheduler(event_loop=asyncio.get_running_loop())
    settings = container.settings
    jobs = (
        ("sweep", sweep_initial_access_tokens, settings.sweep_interval),
        ("realms", reload_realms, settings.realm_poll_interval),
    )
    for job_id, job, seconds in jobs:
        scheduler.add_job(
            _quietly(job),
            "interval",
            args=[container],
            seconds=seconds,
            max_instances=1,  # a slow run is never doubled
            coalesce=True,
            id=job_id,
        )
    scheduler.start()
    return scheduler


def _quietly(
    job: Callable[[Container], Awaitable[object]],
) -> Callable[[Container], Awaitable[None]]:
    """A failing run (database away, say) is logged and retried next interval, never fatal."""

    async def run(container: Container) -> None:
        try:
            await job(container)
        except Exception:
            log.exception("scheduled job %s failed", job.__name__)

    run.__name__ = job.__name__
    return run
