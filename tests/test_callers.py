"""Caller's copies for the hot path (`at`, `acting_as`) are dataclasses.replace, field for field:
a field added to Caller and forgotten there fails here."""

from __future__ import annotations

from dataclasses import replace

from app.auth.callers import Caller

FULL = Caller(
    "registration_access_token",
    token="t.o.k",
    jti="j",
    roles=frozenset({"view-clients"}),
    subject="s",
    expires_at=7,
    host="192.0.2.1",
    issuer="https://issuer.example/realms/r",
    registered_as="authenticated",
)


def test_at_is_replace_of_the_host() -> None:
    assert FULL.at("203.0.113.9") == replace(FULL, host="203.0.113.9")


def test_acting_as_is_replace_of_the_policy_set() -> None:
    assert FULL.acting_as("anonymous") == replace(FULL, registered_as="anonymous")
