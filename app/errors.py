"""The one error hierarchy (RFC 6749 §5.2, RFC 6750 §3, RFC 7591 §3.2.2) and its rendering.

RegistrarError
├── InvalidRequest                400 invalid_request
│   ├── InvalidClientMetadata     400 invalid_client_metadata   (RFC 7591 §3.2.2)
│   ├── InvalidRedirectUri        400 invalid_redirect_uri      (RFC 7591 §3.2.2)
│   ├── InvalidSoftwareStatement  400 invalid_software_statement (RFC 7591 §3.2.2)
│   └── UnapprovedSoftwareStatement 400 unapproved_software_statement (RFC 7591 §3.2.2)
├── UnsupportedGrantType          400 unsupported_grant_type    (RFC 6749 §5.2)
├── UnauthorizedClient            400 unauthorized_client       (RFC 6749 §5.2)
├── InvalidScope                  400 invalid_scope             (RFC 6749 §5.2)
├── InvalidGrant                  400 invalid_grant             (RFC 6749 §5.2)
├── InvalidClient                 401 invalid_client            (RFC 6749 §5.2)
├── InvalidToken                  401 invalid_token             (RFC 6750 §3.1)
│   └── MissingToken              401, a challenge without error (RFC 6750 §3.1)
├── InsufficientScope             403 insufficient_scope        (RFC 6750 §3.1)
│   └── PolicyRefused             403 Keycloak's policy message
├── NotFound                      404
├── RequestTimeout                408
├── PayloadTooLarge               413
├── UriTooLong                    414                           (RFC 9110 §15.5.15)
├── UnsupportedMediaType          415
├── HeadersTooLarge               431                           (RFC 6585 §5)
├── TooManyRequests               429 too_many_requests, Retry-After (RFC 6585 §4)
└── ServiceUnavailable            503 temporarily_unavailable, Retry-After
    └── ServerBusy                503, too many requests in flight

Plain data: the web layer renders them (app.web.errors), the only place an error becomes a
response. The store raises its own errors (app.store.errors), which the web layer maps too.
"""

from __future__ import annotations

from typing import ClassVar


class RegistrarError(Exception):
    """An error the API reports as {"error": ..., "error_description": ...}."""

    status_code: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(RegistrarError):
    """The request is malformed (RFC 6749 §5.2)."""


class InvalidClientMetadata(InvalidRequest):
    """RFC 7591 §3.2.2: the value of one of the client metadata fields is invalid."""

    error = "invalid_client_metadata"


class InvalidRedirectUri(InvalidRequest):
    """RFC 7591 §3.2.2: the value of one or more redirection URIs is invalid."""

    error = "invalid_redirect_uri"


class InvalidSoftwareStatement(InvalidRequest):
    """RFC 7591 §3.2.2: "The software statement presented is invalid." (also: none presented
    where the realm requires one)."""

    error = "invalid_software_statement"


class UnapprovedSoftwareStatement(InvalidRequest):
    """RFC 7591 §3.2.2: "The software statement presented is not approved for use by this
    authorization server." (its issuer is not one the realm trusts)."""

    error = "unapproved_software_statement"


class UnsupportedGrantType(RegistrarError):
    error = "unsupported_grant_type"


class UnauthorizedClient(RegistrarError):
    """RFC 6749 §5.2: the client may not use this grant type."""

    error = "unauthorized_client"


class InvalidScope(RegistrarError):
    error = "invalid_scope"


class InvalidGrant(RegistrarError):
    """RFC 6749 §5.2: the code or refresh token is invalid, expired, revoked, used, or was
    issued to another client or for another redirect URI."""

    error = "invalid_grant"


class InvalidClient(RegistrarError):
    """RFC 6749 §5.2: client authentication failed; 401 with a Basic challenge."""

    status_code = 401
    error = "invalid_client"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="registrar"'}


class InvalidToken(RegistrarError):
    """RFC 6750 §3.1: the access token is expired, revoked, malformed or invalid."""

    status_code = 401
    error = "invalid_token"

    def headers(self) -> dict[str, str]:
        # RFC 6750 §3: "If the protected resource request included an access token and
        # failed authentication, the resource server SHOULD include the "error" attribute"
        return {"WWW-Authenticate": 'Bearer error="invalid_token"'}


class MissingToken(InvalidToken):
    """The request carried no token where one is required."""

    def headers(self) -> dict[str, str]:
        # RFC 6750 §3.1: "If the request lacks any authentication information ..., the
        # resource server SHOULD NOT include an error code or other error information."
        return {"WWW-Authenticate": 'Bearer realm="registrar"'}


class InsufficientScope(RegistrarError):
    """RFC 6750 §3.1: the token is valid but lacks the privileges the request needs."""

    status_code = 403
    error = "insufficient_scope"


class PolicyRefused(InsufficientScope):
    """A Keycloak registration policy refused the request (Keycloak's wire text)."""

    def __init__(self, policy: str, details: str) -> None:
        super().__init__(
            f"Policy '{policy}' rejected request to client-registration service. Details: {details}"
        )
        self.policy = policy


class NotFound(RegistrarError):
    status_code = 404
    error = "not_found"


class PayloadTooLarge(RegistrarError):
    status_code = 413
    error = "invalid_request"


class UriTooLong(RegistrarError):
    """The request target is longer than the server accepts."""

    status_code = 414


class HeadersTooLarge(RegistrarError):
    """The request headers are larger than the server accepts."""

    status_code = 431


class TooManyRequests(RegistrarError):
    """A realm's rate limit is reached (RFC 6585 §4); Retry-After says when to try again."""

    status_code = 429
    error = "too_many_requests"

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class RequestTimeout(RegistrarError):
    """The request body did not arrive within the body timeout."""

    status_code = 408
    error = "invalid_request"


class UnsupportedMediaType(RegistrarError):
    status_code = 415
    error = "invalid_request"


class ServiceUnavailable(RegistrarError):
    """The server cannot answer now (the database cannot be reached, or a client was re-enabled
    a moment ago); the client should retry shortly."""

    status_code = 503
    error = "temporarily_unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "2"}


class ServerBusy(ServiceUnavailable):
    """More requests are in flight than the server takes at once."""

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "1"}
