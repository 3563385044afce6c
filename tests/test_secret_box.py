"""Secrets sealed at rest (app/auth/secret_box.py): what opens, what does not, and the memo of
opened secrets never opening a text under a context it was not sealed with."""

from __future__ import annotations

import pytest

from app.auth.secret_box import KEY_BYTES, SecretBox, SecretKeyError
from app.store.read_cache import MAX_ENTRIES as OPENED_MAX


def test_a_sealed_secret_opens_again_and_again_with_its_context() -> None:
    box = SecretBox(b"k" * KEY_BYTES)
    sealed = box.seal("s3cret", "client-1")
    assert "s3cret" not in sealed
    assert [box.unseal(sealed, "client-1") for _ in range(3)] == ["s3cret"] * 3


def test_an_opened_secret_still_refuses_another_context_or_key() -> None:
    box = SecretBox(b"k" * KEY_BYTES)
    sealed = box.seal("s3cret", "client-1")
    assert box.unseal(sealed, "client-1") == "s3cret"  # now in the memo
    with pytest.raises(SecretKeyError):
        box.unseal(sealed, "client-2")
    with pytest.raises(SecretKeyError):
        SecretBox(b"o" * KEY_BYTES).unseal(sealed, "client-1")


def test_the_memo_of_opened_secrets_is_bounded() -> None:
    box = SecretBox(b"k" * KEY_BYTES)
    sealed = [box.seal(f"secret {n}", f"client-{n}") for n in range(OPENED_MAX + 5)]
    assert [box.unseal(s, f"client-{n}") for n, s in enumerate(sealed)] == [
        f"secret {n}" for n in range(OPENED_MAX + 5)
    ]
    assert len(box._opened) <= OPENED_MAX
