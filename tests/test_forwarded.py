"""X-Forwarded-For and Forwarded are believed only from REGISTRAR_TRUSTED_PROXIES
(docs/reference.md §1), by a real `registrar serve`: by default a local process cannot claim
another address and pass a trusted-hosts policy (or another client's rate limit)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.config.settings import SettingsError, load_settings
from tests.helpers import RP, dcr_path
from tests.live import LiveServer, start_server

CLAIMED = "203.0.113.7"
# anonymous registration only from the claimed address
ELSEWHERE_ONLY = f"""
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["{CLAIMED}"]
      client-uris-must-match: false
"""

# starts a server with REGISTRAR_TRUSTED_PROXIES set to its argument (None: unset)
Starter = Callable[[str | None], LiveServer]


@pytest.fixture
def server_for(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> Iterator[Starter]:
    (realms_dir / "elsewhere.yaml").write_text(ELSEWHERE_ONLY)
    started: list[LiveServer] = []

    def start(trusted_proxies: str | None) -> LiveServer:
        env = {} if trusted_proxies is None else {"REGISTRAR_TRUSTED_PROXIES": trusted_proxies}
        started.append(start_server(tmp_path, realms_dir, sqlite_url, extra_env=env))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def status_claiming(
    server: LiveServer, realm: str, address: str, header: str = "X-Forwarded-For"
) -> int:
    value = f"for={address}" if header == "Forwarded" else address
    response = httpx.post(
        server.url + dcr_path(realm),
        json={"redirect_uris": [RP]},
        headers={header: value},
        timeout=10,
    )
    return response.status_code


@pytest.mark.live
def test_forwarded_for_is_ignored_by_default(server_for: Starter) -> None:
    server = server_for(None)
    # seen as 127.0.0.1, whatever the header claims
    assert status_claiming(server, "elsewhere", CLAIMED) == 403
    assert status_claiming(server, "open", CLAIMED) == 201
    assert status_claiming(server, "elsewhere", CLAIMED, header="Forwarded") == 403


@pytest.mark.live
def test_forwarded_for_is_believed_from_a_trusted_proxy(server_for: Starter) -> None:
    server = server_for("192.0.2.0/24, 127.0.0.1")
    assert status_claiming(server, "elsewhere", CLAIMED) == 201
    assert status_claiming(server, "elsewhere", CLAIMED, header="Forwarded") == 201
    assert status_claiming(server, "open", CLAIMED) == 403


@pytest.mark.live
def test_forwarded_for_from_a_proxy_not_listed_is_ignored(server_for: Starter) -> None:
    server = server_for("10.0.0.0/8")
    assert status_claiming(server, "elsewhere", CLAIMED) == 403


def test_trusted_proxies_are_addresses_or_networks() -> None:
    settings = load_settings(environ={"REGISTRAR_TRUSTED_PROXIES": " 10.1.2.3 ,192.0.2.0/24,::1"})
    assert settings.trusted_proxies == "10.1.2.3,192.0.2.0/24,::1"
    assert load_settings(environ={}).trusted_proxies == ""
    for wrong in ("proxy.example.org", "10.0.0.0/33", "*", "10.0.0.1,,10.0.0.2"):
        with pytest.raises(SettingsError, match="REGISTRAR_TRUSTED_PROXIES"):
            load_settings(environ={"REGISTRAR_TRUSTED_PROXIES": wrong})
