"""A person signs in to the console in a real browser (Playwright driving Debian's Chromium
against a real `registrar serve`), 375 px wide: "Sign in with your account", the realm's login
page, back to the console's "My clients", a client registered with "New client" listed there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers import APP_REALMS
from tests.live import LiveServer, start_server
from tests.people_flow import REALM, add_staff_realm
from tests.signin_flow import PASSWORD
from tests.test_console_browser import PHONE, browser, new_page
from tests.test_signin_browser import log_in

pytestmark = [pytest.mark.live, pytest.mark.browser]
__all__ = ["browser"]  # the module-scoped Chromium fixture, shared with the console's tests


@pytest.fixture
def server(tmp_path: Path, sqlite_url: str) -> Iterator[LiveServer]:
    realms = tmp_path / "realms"
    realms.mkdir()
    (realms / "open.yaml").write_text((APP_REALMS / "open.yaml").read_text())
    add_staff_realm(realms)
    live = start_server(tmp_path, realms, sqlite_url)
    try:
        yield live
    finally:
        live.stop()


def test_a_person_signs_in_through_the_login_page_and_sees_my_clients(
    browser: Browser, server: LiveServer, tmp_path: Path
) -> None:
    page = new_page(browser, server, PHONE)
    page.goto(f"/realms/{REALM}/console/")
    page.get_by_role("link", name="Sign in with your account").click()
    # the realm's login page, as for any client of the realm
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    log_in(page, "alice", PASSWORD)
    expect(page.get_by_role("heading", name="My clients")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out alice")).to_be_visible()
    expect(page.get_by_text("0 clients")).to_be_visible()

    page.get_by_role("navigation", name="Console").get_by_role("link", name="New client").click()
    page.get_by_label("Client name").fill("Alice's notebook")
    page.get_by_label("Redirect URIs").fill("https://notebook.example.org/cb")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Alice's notebook").first).to_be_visible()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="My clients").click()
    expect(page.get_by_text("1 client,")).to_be_visible()
    expect(page.get_by_role("link", name="Alice's notebook")).to_be_visible()
    # 375 px wide: nothing wider than the screen
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    page.screenshot(path=str(tmp_path / "my-clients-375.png"), full_page=True)
