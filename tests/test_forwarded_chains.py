"""Forwarded (RFC 7239) and X-Forwarded-For from REGISTRAR_TRUSTED_PROXIES (docs/reference.md §1):
the client a chain of proxies names is who the trusted-hosts policy, the rate limits and the
events see; from any other peer both headers are ignored. In-process, the peer address chosen per
client (tests/live.py's real servers are in tests/test_forwarded.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from app.config.settings import Settings
from app.rules.forwarded import TrustedProxies, client_address, forwarded_for
from tests.helpers import RP, bearer, dcr_path, service_token
from tests.inprocess import asgi_client, make_settings, started

PROXY = "10.0.0.5"
CLAIMED = "203.0.113.7"
# anonymous registration from CLAIMED only; at most two an address a day; every event kept
# (open_proxied: the same without the rate limit)
REALM = f"""
registration:
  anonymous:
    - type: trusted-hosts
      trusted-hosts: ["{CLAIMED}", "2001:db8:cafe::17"]
      client-uris-must-match: false
rate_limits:
  anonymous_registration: 2/day
events:
  enabled: true
service_accounts:
  - {{client_id: auditor, secret: auditor-secret, roles: [view-events]}}
"""


@pytest.fixture
async def app(tmp_path: Path, realms_dir: Path, sqlite_url: str) -> AsyncIterator[Starlette]:
    (realms_dir / "proxied.yaml").write_text(REALM)
    (realms_dir / "open_proxied.yaml").write_text(REALM.split("rate_limits:")[0])
    settings = make_settings(tmp_path, realms_dir, sqlite_url)
    trusting = Settings.model_validate(
        settings.model_dump() | {"trusted_proxies": f"{PROXY}, 192.0.2.0/24, ::1"}
    )
    async with started(trusting) as application:
        yield application


async def register(
    app: Starlette, peer: str, headers: dict[str, str], realm: str = "proxied"
) -> int:
    async with asgi_client(app, peer) as http:
        answer = await http.post(dcr_path(realm), json={"redirect_uris": [RP]}, headers=headers)
        return answer.status_code


BELIEVED = [
    {"X-Forwarded-For": CLAIMED},
    {"Forwarded": f"for={CLAIMED}"},
    {"Forwarded": f'For="{CLAIMED}:4711";proto=https;by=10.0.0.5'},
    {"Forwarded": 'for="[2001:db8:cafe::17]:4711"'},
    # multiple hops: the right-most address that is not itself a trusted proxy
    {"Forwarded": f"for=198.51.100.1, for={CLAIMED}, for=192.0.2.9"},
    {"X-Forwarded-For": f"198.51.100.1, {CLAIMED}, 192.0.2.9"},
    # a proxy writing both headers
    {"Forwarded": f"for={CLAIMED}", "X-Forwarded-For": CLAIMED},
]
NOT_BELIEVED = [
    # not a trusted proxy: both headers ignored
    ("198.51.100.1", {"X-Forwarded-For": CLAIMED}),
    ("198.51.100.1", {"Forwarded": f"for={CLAIMED}"}),
    ("127.0.0.1", {"Forwarded": f"for={CLAIMED}"}),
    # the claimed address is left of an address no proxy of ours vouches for
    (PROXY, {"Forwarded": f"for={CLAIMED}, for=198.51.100.1"}),
    (PROXY, {"X-Forwarded-For": f"{CLAIMED}, 198.51.100.1"}),
    # an obfuscated identifier or unknown stops the reading at the proxy that wrote it
    (PROXY, {"Forwarded": f"for={CLAIMED}, for=_hidden"}),
    (PROXY, {"Forwarded": f"for={CLAIMED}, for=unknown"}),
    # malformed: says nothing
    (PROXY, {"Forwarded": f'for="{CLAIMED}'}),
    # the two headers disagree: one was passed through from the client
    (PROXY, {"Forwarded": f"for={CLAIMED}", "X-Forwarded-For": "198.51.100.1"}),
]


@pytest.mark.anyio
async def test_a_trusted_proxy_names_the_client(app: Starlette) -> None:
    statuses = [await register(app, PROXY, headers, "open_proxied") for headers in BELIEVED]
    assert statuses == [201] * len(BELIEVED)


@pytest.mark.anyio
async def test_other_claims_are_not_believed(app: Starlette) -> None:
    statuses = [await register(app, *case, "open_proxied") for case in NOT_BELIEVED]
    assert statuses == [403] * len(NOT_BELIEVED)


@pytest.mark.anyio
async def test_rate_limits_and_events_see_the_named_client(app: Starlette) -> None:
    forwarded = {"Forwarded": f"for={CLAIMED}"}
    assert [await register(app, PROXY, forwarded) for _ in range(3)] == [201, 201, 429]
    # another client behind the same proxy has a limit of its own
    assert await register(app, PROXY, {"X-Forwarded-For": "192.0.2.0, 2001:db8:cafe::17"}) == 201
    async with asgi_client(app, PROXY) as http:
        token = await service_token(http, "auditor", "proxied")
        listed = await http.get(
            "/admin/realms/proxied/events",
            params={"type": ["CLIENT_REGISTER", "CLIENT_REGISTER_ERROR"]},
            headers=bearer(token),
        )
    addresses = sorted(event["ipAddress"] for event in listed.json())
    assert addresses == ["2001:db8:cafe::17", *[CLAIMED] * 3], listed.json()


def test_reading_forwarded() -> None:
    # RFC 7239 §4's examples, case-insensitive names, escapes, several header lines
    assert forwarded_for(['for="_gazonk"', "proto=https"]) == ["_gazonk", None]
    assert forwarded_for(['For="[2001:db8:cafe::17]:4711"']) == ["2001:db8:cafe::17"]
    assert forwarded_for(["for=192.0.2.60;proto=http;by=203.0.113.43"]) == ["192.0.2.60"]
    assert forwarded_for(["for=192.0.2.43, for=198.51.100.17", "for=unknown"]) == [
        "192.0.2.43",
        "198.51.100.17",
        "unknown",
    ]
    assert forwarded_for(['proto=https;for="19\\2.0.2.1";by="a,b;c"', ","]) == ["192.0.2.1"]
    for malformed in ('for="192.0.2.1', "for", 'for=a"b', 'for="[::1]:1', 'for="\\'):
        assert forwarded_for([malformed]) in (None, [None]), malformed


def test_choosing_the_client() -> None:
    trusted = TrustedProxies("10.0.0.0/8,::1")
    assert client_address("10.0.0.1", trusted, [], ["192.0.2.1, 10.0.0.2"]) == "192.0.2.1"
    # every hop a trusted proxy: the left-most
    assert client_address("10.0.0.1", trusted, ["for=10.9.9.9, for=10.0.0.2"], []) == "10.9.9.9"
    # an IPv4 peer on a dual-stack socket
    assert client_address("::ffff:10.0.0.1", trusted, ["for=192.0.2.1"], []) == "192.0.2.1"
    assert client_address("::1", trusted, ['for="[2001:DB8::1]"'], []) == "2001:db8::1"
    assert client_address("192.0.2.1", trusted, ["for=10.0.0.1"], []) == "192.0.2.1"
    assert client_address("10.0.0.1", trusted, ["for=not-an-address"], []) == "10.0.0.1"
    assert client_address("10.0.0.1", trusted, ["proto=https"], []) == "10.0.0.1"
    assert not TrustedProxies("")
    assert client_address("", trusted, ["for=192.0.2.1"], []) == ""


@pytest.mark.anyio
async def test_without_trusted_proxies_the_headers_are_ignored(
    tmp_path: Path, realms_dir: Path, sqlite_url: str
) -> None:
    (realms_dir / "proxied.yaml").write_text(REALM)
    async with started(make_settings(tmp_path, realms_dir, sqlite_url)) as application:
        both = {"Forwarded": f"for={CLAIMED}", "X-Forwarded-For": CLAIMED}
        assert await register(application, "127.0.0.1", both) == 403
        assert await register(application, CLAIMED, both) == 201
