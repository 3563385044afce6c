"""Secret values: random client secrets, SHA-256 digests of presented tokens, constant-time
comparison, and the base64url text (RFC 4648 §5, unpadded) that tokens and keys are written in."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_decode_canonical(text: str) -> bytes:
    """Decode base64url only in its one canonical spelling (RFC 7515 §2: unpadded, RFC 4648 §3.5:
    unused bits zero); ValueError for anything else, so one token has exactly one text."""
    if len(text) % 4 == 1 or _B64URL.fullmatch(text) is None:
        raise ValueError("not base64url without padding")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url(data) != text:  # a set unused bit: another text for the same bytes
        raise ValueError("not the canonical base64url of its bytes")
    return data


def new_client_secret() -> str:
    """256 bits from the OS CSPRNG, base64url (43 characters)."""
    return b64url(secrets.token_bytes(32))


def token_digest(token: str) -> str:
    """SHA-256 of a presented token: a random 256-bit token needs no slow password hash."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
