"""An upstream OpenID provider, seen from here as its client: its discovery document (OIDC
Discovery 1.0 §4) and JWKS, cached; a code exchanged at its token endpoint (RFC 6749 §4.1.3,
RFC 7636 §4.5); its ID token verified (OIDC Core §3.1.3.7) before anyone is signed in.

Outbound HTTP goes through httpx with a timeout, no redirects followed and a size cap; a test
hands in a transport of its own (the seam httpx offers) instead of the network.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from jwcrypto import jwk

from app.auth.secret_values import b64url_decode
from app.auth.tokens import verify_rs256
from app.config.realm_models import UpstreamProvider
from app.errors import InvalidToken
from app.jsonio import loads

TIMEOUT = httpx.Timeout(5.0)
MAX_BYTES = 1 << 20  # a discovery document, a JWKS or a token response is far smaller
DISCOVERY_TTL = 300.0
JWKS_TTL = 300.0
JWKS_MIN_REFRESH = 10.0  # an unknown kid refetches the JWKS at most this often
CLOCK_SKEW = 30  # seconds of leeway on exp and iat


class UpstreamUnavailable(Exception):
    """The upstream did not answer, or answered something unusable: a 502 page."""


class UpstreamRefused(Exception):
    """The upstream's answer fails a check (a forged or stale ID token): nobody signs in."""


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    auth_methods: tuple[str, ...]
    sends_iss: bool = False  # RFC 9207 §3: authorization_response_iss_parameter_supported


class UpstreamClient:
    """One per process: the HTTP connections and the caches of every realm's upstream."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.transport = transport  # None: the network
        self.jwks_min_refresh = JWKS_MIN_REFRESH
        self._client: httpx.AsyncClient | None = None
        self._metadata: dict[str, tuple[float, ProviderMetadata]] = {}
        self._jwks: dict[str, tuple[float, jwk.JWKSet]] = {}
        self._jwks_tried: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}  # one per JWKS URL: no upstream waits on another

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self.transport, timeout=TIMEOUT, follow_redirects=False
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _json(
        self,
        method: str,
        url: str,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            async with self._http().stream(
                method, url, data=data, headers={"Accept": "application/json", **(headers or {})}
            ) as response:
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise UpstreamUnavailable(f"{url} answered more than {MAX_BYTES} bytes")
                status = response.status_code
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"{url} did not answer ({type(exc).__name__})") from exc
        try:
            data = loads(body)
        except ValueError as exc:
            raise UpstreamUnavailable(f"{url} answered {status}, not JSON") from exc
        if not isinstance(data, dict):
            raise UpstreamUnavailable(f"{url} answered {status}, not a JSON object")
        if status != 200:
            error = str(data.get("error", ""))[:100]
            raise UpstreamUnavailable(f"{url} answered {status} {error}".rstrip())
        return data

    async def metadata(self, provider: UpstreamProvider) -> ProviderMetadata:
        cached = self._metadata.get(provider.issuer)
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
        data = await self._json("GET", url)
        # OIDC Discovery §4.3: "The issuer value returned MUST be identical to the Issuer URL
        # that was used as the prefix to /.well-known/openid-configuration"
        if data.get("issuer") != provider.issuer:
            raise UpstreamUnavailable(f"{url} names another issuer")
        members = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not all(isinstance(data.get(m), str) and data[m] for m in members):
            raise UpstreamUnavailable(f"{url} lacks an endpoint or its jwks_uri")
        methods = data.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        found = ProviderMetadata(
            provider.issuer,
            str(data["authorization_endpoint"]),
            str(data["token_endpoint"]),
            str(data["jwks_uri"]),
            tuple(m for m in methods if isinstance(m, str)) if isinstance(methods, list) else (),
            data.get("authorization_response_iss_parameter_supported") is True,
        )
        self._metadata[provider.issuer] = (time.monotonic(), found)
        return found

    async def exchange_code(
        self,
        provider: UpstreamProvider,
        metadata: ProviderMetadata,
        code: str,
        redirect_uri: str,
        verifier: str,
    ) -> str:
        """The ID token of the upstream's answer to the code (RFC 6749 §4.1.3)."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,  # RFC 7636 §4.5
        }
        headers: dict[str, str] = {}
        if provider.client_secret is None:
            form["client_id"] = provider.client_id
        elif "client_secret_basic" in metadata.auth_methods or not metadata.auth_methods:
            # RFC 6749 §2.3.1: id and secret are form-encoded before they are joined
            pair = f"{quote(provider.client_id, safe='')}:{quote(provider.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form.update(client_id=provider.client_id, client_secret=provider.client_secret)
        answer = await self._json("POST", metadata.token_endpoint, data=form, headers=headers)
        token = answer.get("id_token")
        if not isinstance(token, str) or not token:
            raise UpstreamUnavailable("The upstream's token response has no id_token")
        return token

    async def verify_id_token(
        self,
        provider: UpstreamProvider,
        metadata: ProviderMetadata,
        token: str,
        nonce: str,
        now: int,
    ) -> dict[str, Any]:
        """OIDC Core §3.1.3.7: the claims of a valid ID token, else UpstreamRefused."""
        keys = await self._key_set(metadata.jwks_uri, _kid(token))
        try:
            claims = verify_rs256(keys, token)
        except InvalidToken as exc:
            raise UpstreamRefused(f"The ID token is not valid: {exc.description}") from exc
        # §3.1.3.7 (2): "The Issuer Identifier for the OpenID Provider [...] MUST exactly
        # match the value of the iss (issuer) Claim."
        if claims.get("iss") != provider.issuer:
            raise UpstreamRefused("The ID token was issued by another issuer")
        # §3.1.3.7 (3): "The Client MUST validate that the aud (audience) Claim contains its
        # client_id value registered at the Issuer"
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if provider.client_id not in audiences:
            raise UpstreamRefused("The ID token is meant for another client")
        # §3.1.3.7 (5): an azp present must be our client_id
        if "azp" in claims and claims["azp"] != provider.client_id:
            raise UpstreamRefused("The ID token was issued to another party")
        # §3.1.3.7 (9): "The current time MUST be before the time represented by the exp Claim"
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW <= now:
            raise UpstreamRefused("The ID token has expired")
        iat = claims.get("iat")
        if isinstance(iat, int | float) and not isinstance(iat, bool) and iat - CLOCK_SKEW > now:
            raise UpstreamRefused("The ID token was issued in the future")
        # §3.1.3.7 (11): "If a nonce value was sent in the Authentication Request, a nonce Claim
        # MUST be present and its value checked to verify that it is the same value as the one
        # that was sent in the Authentication Request."
        if claims.get("nonce") != nonce:
            raise UpstreamRefused("The ID token's nonce is not this sign-in's")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise UpstreamRefused("The ID token has no usable sub")
        return claims

    async def _key_set(self, url: str, kid: str | None) -> jwk.JWKSet:
        """The upstream's JWKS; fetched again when it is stale, or once for an unknown kid
        (the upstream rotated its keys), but at most once per `jwks_min_refresh` seconds, so
        made-up kids cannot make the server hammer the upstream."""
        async with self._locks.setdefault(url, asyncio.Lock()):
            cached = self._jwks.get(url)
            now = time.monotonic()
            if cached is not None:
                fresh = now - cached[0] < JWKS_TTL
                known = kid is None or bool(cached[1].get_keys(kid))
                tried = self._jwks_tried.get(url, now - self.jwks_min_refresh)
                recently = now - tried < self.jwks_min_refresh
                if (fresh and known) or recently:
                    return cached[1]
            self._jwks_tried[url] = now
            data = await self._json("GET", url)
            try:
                keys = jwk.JWKSet()
                keys.import_keyset(json.dumps(data))
            except Exception as exc:  # any unreadable key set is the upstream's fault: 502
                raise UpstreamUnavailable(f"{url} is not a JWK Set") from exc
            self._jwks[url] = (now, keys)
            return keys


def _kid(token: str) -> str | None:
    try:
        header = loads(b64url_decode(token.split(".")[0]))
    except ValueError:  # JsonDecodeError and binascii.Error are ValueErrors
        return None
    kid = header.get("kid") if isinstance(header, Mapping) else None
    return kid if isinstance(kid, str) else None
