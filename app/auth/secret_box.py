"""Sealing at rest: AES-256-GCM with a key kept outside the database (docs/reference.md §4)."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.auth.secret_values import b64url, b64url_decode
from app.store.read_cache import remember

log = logging.getLogger("registrar.secrets")

KEY_BYTES = 32
NONCE_BYTES = 12


class SecretKeyError(Exception):
    """The at-rest key is missing, malformed or not the one the database was made with."""


class SecretBox:
    """AES-256-GCM with a key kept outside the database; the nonce travels with the text."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretKeyError(f"the secret key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        # a sealed text and its context open to one plaintext under this key, so a client's
        # secret, opened on every token request and registration read, is opened once; the
        # process holds the key anyway, so the memo tells a reader of its memory nothing more
        self._opened: dict[tuple[str, str], str] = {}

    def seal(self, plaintext: str, context: str) -> str:
        """Encrypt; `context` (e.g. the client id) is bound as associated data."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return b64url(nonce + sealed)

    def unseal(self, sealed: str, context: str) -> str:
        opened = self._opened.get((sealed, context))
        if opened is not None:
            return opened
        raw = b64url_decode(sealed)
        try:
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except InvalidTag as exc:
            raise SecretKeyError("a stored secret does not open with this secret key") from exc
        opened = plain.decode("utf-8")
        remember(self._opened, (sealed, context), opened)  # bounded, as the read cache
        return opened


def load_secret_key(secret_key: str | None, key_file: Path, create: bool = True) -> bytes:
    """REGISTRAR_SECRET_KEY (base64url of 32 bytes), else the key file (made 0600 on first use,
    unless `create` is false: a command that only reads must not make a key of its own)."""
    if secret_key:
        return _decode_key(secret_key, "REGISTRAR_SECRET_KEY")
    if key_file.exists():
        try:
            text = key_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretKeyError(f"cannot read secret key file {key_file}: {exc}") from exc
        return _decode_key(text, str(key_file))
    if not create:
        raise SecretKeyError(
            f"no secret key: REGISTRAR_SECRET_KEY is not set and {key_file.resolve()} does not "
            "exist (run this where the server runs, or give the server's key)"
        )
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        # O_EXCL: of several processes starting together exactly one writes the file
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_secret_key(None, key_file)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(b64url(key) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.warning(
        "wrote a new secret key to %s (mode 0600): keep it with the database and back it up; "
        "without it no stored client secret can be read",
        key_file.resolve(),
    )
    return key


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = b64url_decode(text.strip())
    except ValueError as exc:
        raise SecretKeyError(f"{source}: not base64url") from exc
    if len(key) != KEY_BYTES:
        raise SecretKeyError(f"{source}: must be base64url of {KEY_BYTES} random bytes")
    return key
