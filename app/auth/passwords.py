"""Password hashes of local users: argon2id (RFC 9106) with argon2-cffi's default cost.

Verifying an unknown user's password against a dummy hash of the same cost keeps a wrong
username and a wrong password indistinguishable by timing.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id, m=65536 KiB, t=3, p=4


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("registrar: no such user")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (an unknown user), the same work, then False."""
    try:
        return _HASHER.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
