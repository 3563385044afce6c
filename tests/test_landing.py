"""GET / in a browser: a page listing every enabled realm with working links, not a JSON 404."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.anyio

HREF = re.compile(r'href="([^"]+)"')


async def test_the_root_page_links_every_enabled_realm(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "no-store" in page.headers["cache-control"]
    links = HREF.findall(page.text)
    assert "http://testserver/realms/open/.well-known/openid-configuration" in links
    assert "http://testserver/realms/open/console/" in links
    assert not any("/realms/hidden/" in link for link in links), "a disabled realm is not shown"
    assert "/openapi.json" in links


async def test_every_link_on_the_root_page_answers(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    for link in set(HREF.findall(page.text)):
        answer = await client.get(link.removeprefix("http://testserver"))
        assert answer.status_code in (200, 303), link
