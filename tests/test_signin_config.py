"""Realm keys of signing users in (docs/reference.md §6): login.users, tokens, and the
`registrar users hash-password` command that makes a user's password_hash."""

from __future__ import annotations

import io

import pytest
from pydantic import ValidationError

from app.auth.passwords import verify_password
from app.cli import main
from app.config.realm_models import RealmConfig


def test_hash_password_reads_stdin_and_prints_an_argon2id_hash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert main(["users", "hash-password"]) == 0
    printed = capsys.readouterr()
    hashed = printed.out.strip()
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in printed.out + printed.err
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct horsE")


def test_hash_password_refuses_an_empty_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["users", "hash-password"]) == 2
    assert "no password" in capsys.readouterr().err


def test_an_unknown_user_never_verifies() -> None:
    assert not verify_password(None, "anything")


def test_login_users_and_token_lifespans_load_with_defaults() -> None:
    realm = RealmConfig.model_validate(
        {
            "name": "r",
            "login": {
                "users": [
                    {
                        "username": "alice",
                        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                        "email": "alice@example.org",
                        "name": "Alice Example",
                        "roles": ["view-clients"],
                    }
                ]
            },
        }
    )
    assert realm.login is not None
    alice = realm.login.user("alice")
    assert alice is not None and alice.email == "alice@example.org"
    assert alice.roles == ("view-clients",)
    assert realm.login.user("bob") is None
    assert realm.tokens.access_token_lifespan == 300
    assert realm.tokens.code_lifespan == 60
    assert realm.tokens.refresh_token_lifespan == 1800
    assert realm.tokens.signing_alg == "RS256"
    assert RealmConfig.model_validate({"name": "r"}).login is None


@pytest.mark.parametrize(
    "login",
    [
        {"users": [{"username": "a", "password_hash": "plain-text"}]},
        {"users": [{"username": "a", "password_hash": "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aA"}]},
        {
            "users": [
                {"username": "a", "password_hash": "$argon2id$x"},
                {"username": "a", "password_hash": "$argon2id$y"},
            ]
        },
        {"users": [{"username": "a", "password_hash": "$argon2id$x", "roles": ["root"]}]},
    ],
)
def test_bad_login_sections_are_refused(login: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RealmConfig.model_validate({"name": "r", "login": login})


@pytest.mark.parametrize(
    "tokens",
    [{"signing_alg": "HS256"}, {"access_token_lifespan": 0}, {"code_lifespan": -1}],
)
def test_bad_token_settings_are_refused(tokens: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RealmConfig.model_validate({"name": "r", "tokens": tokens})
