"""Signing in with a real browser: Playwright driving Debian's Chromium against a real
`registrar serve`. The login and consent forms post to the server and are answered with a
redirect to the client, which Chromium lets through only if the pages' Content-Security-Policy
(form-action) allows the client's origin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.live import LiveServer, start_server
from tests.signin_flow import PASSWORD, people_realms, pkce
from tests.test_console_browser import browser, new_page

pytestmark = [pytest.mark.live, pytest.mark.browser]
__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with the console's tests
CALLBACK = "http://127.0.0.1:47123/callback"


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    live = start_server(tmp_path, people_realms(tmp_path), sqlite_url)
    try:
        yield live
    finally:
        live.stop()


def authorization_url(server: LiveServer, realm: str) -> str:
    registered = httpx.post(
        f"{server.url}/realms/{realm}/clients-registrations/openid-connect",
        json={
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "none",
            "scope": "openid profile",
            "client_name": "Browser App",
        },
    ).json()
    query = {
        "response_type": "code",
        "client_id": registered["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "openid profile",
        "state": "xyz",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    return f"{server.url}/realms/{realm}/protocol/openid-connect/auth?{urlencode(query)}"


def catch_callback(page: Page) -> list[str]:
    """The client's redirect URI, answered by the test: the URLs the browser arrived at."""
    arrived: list[str] = []

    def answer(route: Route) -> None:
        arrived.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="signed in")

    page.route(CALLBACK + "*", answer)
    return arrived


def log_in(page: Page, username: str, password: str) -> None:
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_user_signs_in_and_the_browser_goes_back_with_a_code(
    browser: Browser, server: LiveServer
) -> None:
    page = new_page(browser, server)
    arrived = catch_callback(page)
    page.goto(authorization_url(server, "people"))
    expect(page.get_by_role("heading", name="Sign in to Browser App")).to_be_visible()
    log_in(page, "alice", "wrong")
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    log_in(page, "alice", PASSWORD)
    expect(page.get_by_text("signed in")).to_be_visible()
    query = parse_qs(urlsplit(arrived[-1]).query)
    assert query["state"] == ["xyz"] and query["code"][0]
    assert query["iss"] == [f"{server.url}/realms/people"]


def test_a_user_grants_consent_in_the_browser(browser: Browser, server: LiveServer) -> None:
    page = new_page(browser, server)
    arrived = catch_callback(page)
    page.goto(authorization_url(server, "consenting"))
    log_in(page, "alice", PASSWORD)
    expect(page.get_by_role("heading", name="Browser App asks for access")).to_be_visible()
    expect(page.get_by_text("127.0.0.1")).to_be_visible()
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_text("signed in")).to_be_visible()
    assert "code" in parse_qs(urlsplit(arrived[-1]).query)
