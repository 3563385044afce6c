"""Fetches made on a client's behalf (its metadata document, its jwks_uri). httpx lives here.

The guard against server-side request forgery: the host name is resolved once, off the event
loop; every address it resolves to must be public (app/rules/addresses.py); and the connection
goes to the address that was checked, never to a second lookup's answer, which a hostile name
server could point inward between the check and the use. TLS still verifies the host name
(sent as SNI) and the request still names it (Host). Redirects are not followed, the time is
bounded as a whole and the body is read only up to its cap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from app.auth.addresses import address_refusal, is_loopback, read_address
from app.jsonio import loads

Resolver = Callable[[str], list[str]]  # a host name -> its addresses; blocking, run in a thread

DOCUMENT_MAX_BYTES = 5 * 1024
JWKS_MAX_BYTES = 64 * 1024
DEFAULT_TIMEOUT = 5.0


class FetchRefused(Exception):
    """The URL was not fetched, or what came back is not usable; the message says why."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class Fetched:
    document: Any  # the JSON value read
    cache_control: str | None
    address: str  # the address it came from


def system_resolve(host: str) -> list[str]:
    """The addresses of `host` (IPv4 and IPv6), in the system resolver's order."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


class OutboundFetcher:
    """GET JSON from a client's URL under the guard above."""

    def __init__(
        self,
        resolve: Resolver = system_resolve,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._resolve = resolve
        self._transport = transport  # tests only: None is a real network connection

    async def get_json(
        self,
        url: str,
        *,
        allow_loopback_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DOCUMENT_MAX_BYTES,
    ) -> Fetched:
        try:
            return await asyncio.wait_for(
                self._get(url, allow_loopback_http, timeout, max_bytes), timeout
            )
        except TimeoutError as exc:
            raise FetchRefused(f"{url} did not answer within {timeout:g} s") from exc

    async def _get(
        self, url: str, allow_loopback_http: bool, timeout: float, max_bytes: int
    ) -> Fetched:
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise FetchRefused(f"{url} is not a valid URL") from exc
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("https", "http") or not host:
            raise FetchRefused(f"{url} is not an http(s) URL")
        if parts.scheme == "http" and not allow_loopback_http:
            raise FetchRefused(f"{url} does not use https")
        address = await self._checked_address(host, allow_loopback_http)
        if parts.scheme == "http" and not is_loopback(address):
            raise FetchRefused(f"{url}: plain http is allowed to loopback addresses only")
        ip = ipaddress.ip_address(address)
        netloc = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        named = parts.netloc.rpartition("@")[2]
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        # identity: a compressed body could unpack far past the cap within one chunk
        headers = {"Host": named, "Accept": "application/json", "Accept-Encoding": "identity"}
        try:
            async with (
                httpx.AsyncClient(
                    # draft-ietf-oauth-client-id-metadata-document: "The authorization server
                    # MUST NOT automatically follow HTTP redirects"
                    follow_redirects=False,
                    trust_env=False,
                    timeout=timeout,
                    transport=self._transport,
                ) as client,
                client.stream("GET", target, headers=headers, extensions=extensions) as response,
            ):
                if response.is_redirect or 300 <= response.status_code < 400:
                    raise FetchRefused(f"{url} redirects, and redirects are not followed")
                # the draft: "The authorization server MUST treat all other HTTP status codes
                # and content types as an error response"
                if response.status_code != 200:
                    raise FetchRefused(f"{url} answered with HTTP status {response.status_code}")
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind != "application/json":
                    raise FetchRefused(f"{url} is not application/json")
                body = await _read_capped(response, max_bytes, url)
                cache_control = response.headers.get("cache-control")
        except httpx.HTTPError as exc:
            raise FetchRefused(f"{url} could not be fetched ({type(exc).__name__})") from exc
        try:
            return Fetched(loads(body), cache_control, address)
        except ValueError as exc:
            raise FetchRefused(f"{url} is not valid JSON") from exc

    async def _checked_address(self, host: str, allow_loopback: bool) -> str:
        """The one address to connect to: the host's, resolved once, every answer public."""
        literal = read_address(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            addresses = await asyncio.to_thread(self._resolve, host)
            if not addresses:
                raise FetchRefused(f"{host} does not resolve")
        for address in addresses:
            refusal = address_refusal(address, allow_loopback=allow_loopback)
            if refusal is not None:
                # one inward answer refuses the name: which one a client's resolver would
                # take is not ours to guess
                raise FetchRefused(f"{host} resolves to {refusal} ({address})")
        return addresses[0]


async def _read_capped(response: httpx.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchRefused(f"{url} is larger than {max_bytes} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise FetchRefused(f"{url} is larger than {max_bytes} bytes")
    return bytes(body)
