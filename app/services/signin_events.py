"""Keycloak's events of signing people in: LOGIN, LOGIN_ERROR, LOGOUT, LOGOUT_ERROR, with its
details (`username`, `auth_method`, `redirect_uri`, `consent`, `code_id`). Never a password, a
code or a token: `code_id` names the code's issue without being (or revealing) the code."""

from __future__ import annotations

import uuid

from app.auth.callers import Caller
from app.config.realm_models import RealmConfig
from app.services.events import EventLog

AUTH_METHOD = "openid-connect"
# Keycloak's `consent` detail of a LOGIN
NO_CONSENT_REQUIRED = "no_consent_required"
CONSENT_GRANTED = "consent_granted"
PERSISTED_CONSENT = "persistent_consent"
# Keycloak's error codes
INVALID_CREDENTIALS = "invalid_user_credentials"
REJECTED_BY_USER = "rejected_by_user"


class SigninEvents:
    def __init__(self, events: EventLog) -> None:
        self._events = events

    def login(
        self,
        realm: RealmConfig,
        host: str,
        client_id: str,
        username: str,
        redirect_uri: str,
        consent: str,
    ) -> None:
        details = {
            "auth_method": AUTH_METHOD,
            "auth_type": "code",
            "username": username,
            "redirect_uri": redirect_uri,
            "consent": consent,
            "code_id": str(uuid.uuid4()),
        }
        self._events.record(
            realm, "LOGIN", Caller("anonymous", host=host), client_id, None, details, username
        )

    def login_error(
        self,
        realm: RealmConfig,
        host: str,
        client_id: str,
        error: str,
        redirect_uri: str,
        username: str | None = None,
    ) -> None:
        details = {"auth_method": AUTH_METHOD, "auth_type": "code", "redirect_uri": redirect_uri}
        if username:
            details["username"] = username[:200]
        self._events.record(
            realm, "LOGIN_ERROR", Caller("anonymous", host=host), client_id, error, details,
            username[:200] if username else None,
        )  # fmt: skip

    def logout(
        self, realm: RealmConfig, host: str, username: str, redirect_uri: str | None = None
    ) -> None:
        details = {"username": username}
        if redirect_uri:
            details["redirect_uri"] = redirect_uri
        self._events.record(
            realm, "LOGOUT", Caller("anonymous", host=host), None, None, details, username
        )

    def logout_error(
        self, realm: RealmConfig, host: str, error: str, redirect_uri: str | None
    ) -> None:
        details = {"redirect_uri": redirect_uri[:2000]} if redirect_uri else None
        anonymous = Caller("anonymous", host=host)
        self._events.record(realm, "LOGOUT_ERROR", anonymous, None, error, details)
