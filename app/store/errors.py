"""What the store raises: storage facts, not HTTP answers (app.web.errors maps them)."""

from __future__ import annotations


class StoreError(Exception):
    """A storage failure or refusal. `description` is safe to show a client; `detail`, for the
    operator (logs, the command line), says the cause and where, never a password."""

    def __init__(self, description: str = "", detail: str = "") -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail


class DatabaseUnavailable(StoreError):
    """The database cannot be reached, is busy, or is shutting down: retry shortly."""


class ConnectionLost(DatabaseUnavailable):
    """A pooled connection died under a statement (a read may be retried on a fresh one)."""


class SpendFailed(StoreError):
    """The initial access token is used up, expired or gone."""


class RealmFull(StoreError):
    """max-clients reached."""


class ClientIdTaken(StoreError):
    """Another client of the realm has this clientId (the unique index said so)."""
