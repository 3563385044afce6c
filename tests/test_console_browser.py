"""The web console in a real browser: Playwright for Python driving Debian's
Chromium against a real `registrar serve`. Screenshots go to the test's tmp dir; two of them
also to docs/ for the README, when REGISTRAR_SHOOT_DOCS=1 asks for them.

Never downloads a browser: /usr/bin/chromium comes from Debian (`apt-get install chromium`,
which scripts/test does when it can). Without it these tests fail, on purpose, rather than skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.helpers import assert_error, basic
from tests.live import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).parent.parent / "docs"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the console's browser tests need Debian's Chromium. "
            "Run scripts/test (it installs it with apt-get when run as root), or "
            "`apt-get install chromium`.",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        yield launched
        launched.close()


def new_page(browser: Browser, server: LiveServer, viewport: dict[str, int] = DESKTOP) -> Page:
    context = browser.new_context(base_url=server.url, viewport=viewport)  # type: ignore[arg-type]
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    return context.new_page()


def sign_in(page: Page, realm: str, client_id: str, secret: str) -> None:
    page.goto(f"/realms/{realm}/console/")
    expect(page.get_by_role("heading", name=f"Sign in to realm {realm}")).to_be_visible()
    page.get_by_label("Client id", exact=True).fill(client_id)
    page.get_by_label("Secret", exact=True).fill(secret)
    page.get_by_role("button", name="Sign in").click()


def register_anonymously(server: LiveServer, realm: str, name: str) -> str:
    reply = httpx.post(
        f"{server.url}/realms/{realm}/clients-registrations/openid-connect",
        json={"client_name": name, "redirect_uris": ["https://app.example.org/cb"]},
    )
    assert reply.status_code == 201, reply.text
    client_id: str = reply.json()["client_id"]
    return client_id


def admin_view(server: LiveServer, realm: str, client_id: str) -> httpx.Response:
    token = httpx.post(
        f"{server.url}/realms/{realm}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": basic("admin", "admin-secret")},
    ).json()["access_token"]
    return httpx.get(
        f"{server.url}/admin/realms/{realm}/clients/{client_id}",
        headers={"Authorization": f"Bearer {token}"},
    )


def shoot(page: Page, tmp_path: Path, name: str, docs: bool = False) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    # the README's pictures are re-shot only when asked: a test run leaves the tree as it was
    if docs and os.environ.get("REGISTRAR_SHOOT_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / f"{name}.png"), full_page=True)


def test_admin_creates_an_initial_access_token_and_registers_a_client(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    for name in ("Photo gallery", "Build bot", "Wiki <b>beta</b>"):
        register_anonymously(live_server, "open", name)
    page = new_page(browser, live_server)
    sign_in(page, "open", "admin", "admin-secret")
    expect(page.get_by_role("heading", name="My clients")).to_be_visible()
    expect(page.get_by_role("cell", name="Wiki <b>beta</b>")).to_be_visible()
    shoot(page, tmp_path, "console-clients", docs=True)

    page.get_by_role("link", name="Initial access tokens").click()
    page.get_by_label("Expiration (seconds, 0 = never)").fill("3600")
    page.get_by_label("Count (clients it may register)").fill("2")
    page.get_by_role("button", name="Create").click()
    token = page.locator("#iat-token").inner_text()
    page.get_by_role("button", name="Copy token").click()
    expect(page.locator("#iat-token-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    shoot(page, tmp_path, "console-tokens")
    reply = httpx.post(
        f"{live_server.url}/realms/open/clients-registrations/openid-connect",
        json={"redirect_uris": ["https://iat.example.org/cb"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 201

    page.get_by_role("link", name="New client").first.click()
    page.get_by_label("Client name").fill("Science portal")
    page.get_by_label("Redirect URIs").fill(
        "https://portal.example.org/oidc\nhttps://portal.example.org/silent"
    )
    page.get_by_label("offline_access").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Client registered")).to_be_visible()
    client_id = page.locator("#client-id").inner_text()
    assert page.locator("#rat").inner_text().startswith("ey")
    assert page.locator("#client-secret").inner_text()
    shoot(page, tmp_path, "console-new-client", docs=True)
    found = admin_view(live_server, "open", client_id)
    assert found.status_code == 200
    assert found.json()["name"] == "Science portal"


def test_console_at_phone_width(browser: Browser, live_server: LiveServer, tmp_path: Path) -> None:
    register_anonymously(live_server, "open", "A client with a rather long name for a phone")
    page = new_page(browser, live_server, PHONE)
    sign_in(page, "open", "admin", "admin-secret")
    expect(page.get_by_role("heading", name="My clients")).to_be_visible()
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the clients page scrolls sideways at 375 px ({wide} px)"
    shoot(page, tmp_path, "console-clients-375")
    page.get_by_role("link", name="New client").first.click()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shoot(page, tmp_path, "console-new-client-form-375")


def test_admin_approves_a_held_client_then_deletes_it(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    client_id = register_anonymously(live_server, "held", "Waiting for approval")
    assert admin_view(live_server, "held", client_id).json()["enabled"] is False
    page = new_page(browser, live_server)
    sign_in(page, "held", "admin", "admin-secret")
    expect(page.get_by_role("cell", name="disabled")).to_be_visible()
    page.get_by_role("table").get_by_role("link", name="Waiting for approval").click()
    page.get_by_role("button", name="Enable client (approve)").click()
    expect(page.get_by_role("status").first).to_have_text("The client is enabled.")
    assert admin_view(live_server, "held", client_id).json()["enabled"] is True
    shoot(page, tmp_path, "console-client-approved")

    page.get_by_role("link", name="Delete client…").click()
    page.get_by_role("button", name="Delete client").click()
    expect(page.get_by_text("The client is deleted.")).to_be_visible()
    assert_error(admin_view(live_server, "held", client_id), 404, "not_found")


def no_sideways_scroll(page: Page, what: str) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth")
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert wide <= width, f"{what} scrolls sideways at {width} px ({wide} px)"


def test_admin_edits_a_client_then_confirms_a_deletion_on_a_phone(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    """Issue 14: the edit form at 1280 px (a refusal shown with the input kept, then saved),
    and a deletion confirmed, after a cancel, at 375 px."""
    client_id = register_anonymously(live_server, "open", "Before the edit")
    page = new_page(browser, live_server)
    sign_in(page, "open", "admin", "admin-secret")
    page.get_by_role("link", name="Before the edit").click()
    edit = page.locator(f'form[action$="/clients/{client_id}/edit"]')
    edit.get_by_label("Client name").fill("After the edit")
    edit.get_by_label("Redirect URIs").fill("https://app.example.org/cb\nnot a uri")
    edit.get_by_label("phone").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Redirect URIs: line 2 is not an absolute URI"
    )
    expect(edit.get_by_label("Client name")).to_have_value("After the edit")
    expect(edit.get_by_label("phone")).to_be_checked()
    shoot(page, tmp_path, "console-edit-refused")
    edit.get_by_label("Redirect URIs").fill(
        "https://app.example.org/cb\nhttps://app.example.org/silent"
    )
    edit.get_by_label("Enabled").uncheck()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("The client is saved.")).to_be_visible()
    expect(page.get_by_role("heading", name="After the edit")).to_be_visible()
    shown = admin_view(live_server, "open", client_id).json()
    assert shown["name"] == "After the edit"
    assert shown["redirectUris"] == ["https://app.example.org/cb", "https://app.example.org/silent"]
    assert shown["enabled"] is False
    no_sideways_scroll(page, "the client page")
    shoot(page, tmp_path, "console-client-edited")

    phone = new_page(browser, live_server, PHONE)
    sign_in(phone, "open", "admin", "admin-secret")
    phone.goto(f"/realms/open/console/clients/{client_id}")
    no_sideways_scroll(phone, "the client page")
    phone.get_by_role("link", name="Delete client…").click()
    expect(phone.get_by_role("heading", name="Delete client After the edit?")).to_be_visible()
    no_sideways_scroll(phone, "the confirmation page")
    shoot(phone, tmp_path, "console-confirm-delete-375")
    phone.get_by_role("link", name="Cancel, keep it").click()
    expect(phone.get_by_role("heading", name="After the edit")).to_be_visible()
    assert admin_view(live_server, "open", client_id).status_code == 200
    phone.get_by_role("link", name="Delete client…").click()
    phone.get_by_role("button", name="Delete client").click()
    expect(phone.get_by_text("The client is deleted.")).to_be_visible()
    assert admin_view(live_server, "open", client_id).status_code == 404
    phone.get_by_role("link", name="Policies").click()
    expect(phone.get_by_role("heading", name="Registration policies")).to_be_visible()
    no_sideways_scroll(phone, "the policies page")
