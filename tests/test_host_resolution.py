"""Trusted-hosts entries that are host names are resolved off the event loop (a slow DNS server
must not stall every request), cached, and read by the pure policies from the cache."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

import app.auth.hosts
from app.auth.hosts import CachingResolver
from tests.helpers import dcr_path

pytestmark = pytest.mark.anyio


class RecordingLookup:
    """A stand-in for getaddrinfo that notes which thread asked, and takes its time."""

    def __init__(self, answer: frozenset[str]) -> None:
        self.answer = answer
        self.threads: list[int] = []

    def __call__(self, host: str) -> frozenset[str]:
        self.threads.append(threading.get_ident())
        time.sleep(0.05)
        return self.answer


async def test_a_hostname_entry_is_resolved_off_the_event_loop(
    stranger: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # realm "open" trusts 127.0.0.1, ::1 and "localhost": a stranger's address is matched
    # against what "localhost" resolves to
    lookup = RecordingLookup(frozenset({"127.0.0.1"}))
    monkeypatch.setattr(app.auth.hosts, "_lookup", lookup)
    response = await stranger.post(dcr_path(), json={"redirect_uris": ["https://rp.example/cb"]})
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert lookup.threads, "the name was looked up"
    assert threading.get_ident() not in lookup.threads, "looked up on the event loop's thread"


async def test_a_name_resolving_to_the_callers_address_is_trusted(
    stranger: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.auth.hosts, "_lookup", RecordingLookup(frozenset({"203.0.113.7"})))
    response = await stranger.post(dcr_path(), json={"redirect_uris": ["https://rp.example/cb"]})
    assert response.status_code == 201, response.text


async def test_the_cache_answers_without_blocking_and_remembers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookup = RecordingLookup(frozenset({"192.0.2.5"}))
    monkeypatch.setattr(app.auth.hosts, "_lookup", lookup)
    resolve = CachingResolver()
    assert resolve("ci.example.net") == frozenset()  # never looked up: unknown, at once
    assert resolve("192.0.2.9") == frozenset({"192.0.2.9"})  # a literal needs no lookup
    await resolve.prefetch(["CI.example.net", "ci.example.net", "192.0.2.9"])
    assert resolve("ci.example.net") == frozenset({"192.0.2.5"})
    await resolve.prefetch(["ci.example.net"])
    assert len(lookup.threads) == 1, "a fresh answer is not looked up again"
