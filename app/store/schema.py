"""The tables (SQLModel), created at start on SQLite and PostgreSQL alike.

Table models are kept apart from the row dataclasses of app.store.queries, so a hash or a sealed
secret never reaches a response by accident. Times are epoch seconds (Keycloak's unit).
"""

from __future__ import annotations

from sqlalchemy import Index
from sqlmodel import Field, SQLModel


class Client(SQLModel, table=True):
    __tablename__ = "client"
    __table_args__ = (Index("ix_client_realm_created", "realm", "created_at", "client_id"),)

    client_id: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    metadata_json: str
    secret_sealed: str | None = None  # AES-GCM, key outside the database (docs/reference.md §4)
    rat_digest: str = Field(max_length=64)  # SHA-256 of the registration access token
    registration_auth: str = Field(max_length=16)
    enabled: bool = True
    consent_required: bool = False
    full_scope_allowed: bool = True
    created_at: int
    updated_at: int


class InitialAccessToken(SQLModel, table=True):
    __tablename__ = "initial_access_token"

    id: str = Field(primary_key=True, max_length=64)
    realm: str = Field(index=True, max_length=64)
    token_digest: str = Field(max_length=64)  # SHA-256 of the token; the token is never stored
    created_at: int
    expires_at: int | None = None
    count: int
    remaining: int


class RealmKey(SQLModel, table=True):
    """A realm's signing keys, sealed with the at-rest key."""

    __tablename__ = "realm_key"

    realm: str = Field(primary_key=True, max_length=64)
    sealed: str
    created_at: int


class RevokedToken(SQLModel, table=True):
    """An access token ended before its expiry (a console sign-out), kept until it expires."""

    __tablename__ = "revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    realm: str = Field(max_length=64)
    expires_at: int = Field(index=True)


class MetaValue(SQLModel, table=True):
    __tablename__ = "registrar_meta"

    name: str = Field(primary_key=True, max_length=64)
    value: str


TABLES = SQLModel.metadata
