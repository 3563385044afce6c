"""Signing in through an upstream provider in a real browser: Playwright driving Debian's
Chromium against one `registrar serve`, whose realm `people` is the upstream of realm
`brokered`. The user clicks "Sign in with Corp SSO", signs in on the upstream's page, and the
browser arrives at the client's redirect URI with a code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.broker_flow import BROKERED_REALM
from tests.helpers import wait_until
from tests.live import LiveServer, start_server
from tests.signin_flow import PASSWORD, people_realms
from tests.test_console_browser import browser, new_page
from tests.test_signin_browser import CALLBACK, authorization_url, catch_callback, log_in

pytestmark = [pytest.mark.live, pytest.mark.browser]
__all__ = ["browser"]


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[LiveServer, Path]]:
    realms = people_realms(tmp_path)
    live = start_server(tmp_path, realms, sqlite_url)
    try:
        yield live, realms
    finally:
        live.stop()


def add_brokered_realm(server: LiveServer, realms: Path) -> None:
    """Register this server at its own realm `people`, then name that realm as the upstream
    of a new realm `brokered`, and wait for the server to load it."""
    upstream = httpx.post(
        f"{server.url}/realms/people/clients-registrations/openid-connect",
        json={
            "redirect_uris": [f"{server.url}/realms/brokered/broker/corp/endpoint"],
            "scope": "openid profile email",
        },
    ).json()
    text = BROKERED_REALM.format(
        issuer=f"{server.url}/realms/people", client_id=upstream["client_id"]
    ).replace("${CORP_CLIENT_SECRET}", upstream["client_secret"])
    (realms / "brokered.yaml").write_text(text)
    discovery = f"{server.url}/realms/brokered/.well-known/openid-configuration"
    wait_until(lambda: httpx.get(discovery).status_code == 200, timeout=20, what="realm loaded")


def test_a_user_signs_in_through_the_upstream_in_the_browser(
    browser: Browser, server: tuple[LiveServer, Path]
) -> None:
    live, realms = server
    add_brokered_realm(live, realms)
    page = new_page(browser, live)
    arrived = catch_callback(page)
    page.goto(authorization_url(live, "brokered"))
    expect(page.get_by_role("heading", name="Sign in to Browser App")).to_be_visible()
    page.get_by_role("link", name="Sign in with Corp SSO").click()
    # the upstream's own login page (realm people), for its client: this server
    expect(page.get_by_role("heading", name="Sign in to")).to_be_visible()
    assert "/realms/people/protocol/openid-connect/auth" in page.url
    log_in(page, "alice", PASSWORD)
    expect(page.get_by_text("signed in")).to_be_visible()
    query = parse_qs(urlsplit(arrived[-1]).query)
    assert arrived[-1].startswith(CALLBACK + "?")
    assert query["state"] == ["xyz"] and query["code"][0]
    assert query["iss"] == [f"{live.url}/realms/brokered"]
