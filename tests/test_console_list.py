"""The console's client list as an admin works through it: newest first, a total, filters for
enabled, disabled and waiting for approval (the approval queue), page x of y, and no page past
the end."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import admin, clients_path, register
from tests.test_console import console, signed_in

pytestmark = pytest.mark.anyio

NAMES = re.compile(r'<a href="[^"]+/clients/[^"]+">([^<]+)</a>')


def names_on(page: httpx.Response) -> list[str]:
    return NAMES.findall(page.text)


async def test_newest_first_with_a_total(client: httpx.AsyncClient) -> None:
    for name in ("first", "second", "third"):
        await register(client, client_name=name)
    await signed_in(client)
    page = await client.get(console() + "/clients")
    assert page.status_code == 200
    # creation order is (created_at, client_id): the admin API lists it oldest first
    oldest_first = await client.get(clients_path(), headers=await admin(client))
    assert names_on(page) == [c["name"] for c in reversed(oldest_first.json())]
    assert set(names_on(page)) == {"first", "second", "third"}
    assert "3 clients" in page.text
    assert "Page 1 of 1" in page.text
    assert 'rel="next"' not in page.text and 'rel="prev"' not in page.text


async def test_the_approval_queue(client: httpx.AsyncClient) -> None:
    waiting = await register(client, "held", client_name="waiting")
    approved = await register(client, "held", client_name="approved")
    stopped = await register(client, "held", client_name="stopped")
    auth = await admin(client, "held")
    for registered, steps in ((approved, [True]), (stopped, [True, False])):
        for enabled in steps:
            path = f"{clients_path('held')}/{registered['client_id']}"
            answer = await client.put(path, json={"enabled": enabled}, headers=auth)
            assert answer.status_code == 204
    await signed_in(client, "admin", "held")
    shown = {
        state: names_on(await client.get(console("held") + f"/clients?state={state}"))
        for state in ("", "enabled", "disabled", "waiting")
    }
    # clients registered in one second sort by id: the order among them is not asked
    assert sorted(shown[""]) == ["approved", "stopped", "waiting"]
    assert shown["enabled"] == ["approved"]
    assert sorted(shown["disabled"]) == ["stopped", "waiting"]
    assert shown["waiting"] == [waiting["client_name"]]
    queue = await client.get(console("held") + "/clients?state=waiting")
    assert "1 client waiting for approval" in queue.text
    wrong = await client.get(console("held") + "/clients?state=sleeping")
    assert wrong.status_code == 400


async def test_page_x_of_y_and_nothing_past_the_end(client: httpx.AsyncClient) -> None:
    for n in range(23):
        await register(client, client_name=f"client-{n:02}")
    await signed_in(client)
    first = await client.get(console() + "/clients")
    assert "Page 1 of 2" in first.text and 'rel="next"' in first.text
    assert len(names_on(first)) == 20
    beyond = await client.get(console() + "/clients?page=99")
    assert beyond.status_code == 200
    assert "Page 2 of 2" in beyond.text
    # the rest (clients of one second sort by id, so which three is not asked)
    rest = names_on(beyond)
    assert len(rest) == 3
    assert set(rest) | set(names_on(first)) == {f"client-{n:02}" for n in range(23)}
    assert 'rel="next"' not in beyond.text and 'rel="prev"' in beyond.text
