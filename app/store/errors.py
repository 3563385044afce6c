"""What the store raises: storage facts, not HTTP answers (app.web.errors maps them)."""

from __future__ import annotations


class StoreError(Exception):
    """A storage failure or refusal; `description` is safe to show a client."""

    def __init__(self, description: str = "") -> None:
        super().__init__(description)
        self.description = description


class DatabaseUnavailable(StoreError):
    """The database cannot be reached, is busy, or is shutting down: retry shortly."""


class ConnectionLost(DatabaseUnavailable):
    """A pooled connection died under a statement (a read may be retried on a fresh one)."""


class SpendFailed(StoreError):
    """The initial access token is used up, expired or gone."""


class RealmFull(StoreError):
    """max-clients reached."""
