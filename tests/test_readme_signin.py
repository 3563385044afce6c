"""The README's "Signing in with curl and a browser" works as printed against the example
realms: its shell blocks run in one bash, and where the README sends a person to the browser
the test signs in and consents by posting the same forms, then hands bash the code."""

from __future__ import annotations

import re
import subprocess
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from app.auth.passwords import verify_password
from app.config.realms import load_realm
from tests.live import LiveServer
from tests.signin_flow import form_of
from tests.test_readme import ROOT, SHELL_BLOCK, examples_server

__all__ = ["examples_server"]


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Signing in with curl and a browser")
    return readme[start : readme.index("\n## ", start + 1)]


def sign_in_as_a_person(url: str, password: str) -> str:
    """What the README asks of the person at the browser: sign in, accept; the code."""
    with httpx.Client() as browser:
        login = browser.get(url)
        action, hidden = form_of(login)
        consent = browser.post(action, data={**hidden, "username": "alice", "password": password})
        assert "my tool asks for access" in consent.text and "127.0.0.1" in consent.text
        action, hidden = form_of(consent)
        done = browser.post(action, data={**hidden, "accept": "yes"})
    location = done.headers["location"]
    assert location.startswith("http://127.0.0.1:33418/callback?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


@pytest.mark.live
def test_the_sign_in_walkthrough_runs_as_printed(examples_server: LiveServer) -> None:
    text = section()
    password = re.search(r"the password `([^`]+)`", text)
    assert password is not None
    blocks = SHELL_BLOCK.findall(text)
    assert len(blocks) == 2
    script = "\n".join(blocks)
    assert script.count("BASE=http://127.0.0.1:8080") == 1
    assert script.count("CODE=paste-the-code-here") == 1
    script = script.replace("BASE=http://127.0.0.1:8080", f"BASE={examples_server.url}")
    script = script.replace("CODE=paste-the-code-here", "read -r CODE")  # the pasted code
    shell = subprocess.Popen(
        ["bash", "-e", "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert shell.stdout is not None
        url = shell.stdout.readline().strip()  # the authorization URL, printed by the first block
        assert url.startswith(f"{examples_server.url}/realms/mcp/protocol/openid-connect/auth?")
        code = sign_in_as_a_person(url, password.group(1))
        out, err = shell.communicate(code + "\n", timeout=60)
    finally:
        if shell.poll() is None:
            shell.kill()
            shell.wait(timeout=10)
    assert shell.returncode == 0, err
    assert '"token_type":"Bearer"' in out and '"refresh_token"' in out
    assert '"sub":"alice"' in out and '"preferred_username":"alice"' in out
    assert '"name":"Alice Example"' in out


def test_the_readme_password_is_the_example_realms() -> None:
    """The example password printed in the README is the one the realm file's hash says."""
    realm = load_realm(ROOT / "realms" / "mcp.yaml", {})
    assert realm.login is not None
    alice = realm.login.user("alice")
    password = re.search(r"the password `([^`]+)`", section())
    assert alice is not None and password is not None
    assert verify_password(alice.password_hash, password.group(1))
