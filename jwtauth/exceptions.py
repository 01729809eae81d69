"""Define jwtauth's errors, each with a stable machine-readable ``code`` and an HTTP status."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class JWTAuthError(Exception):
    """Base class: an error a client can be told about, with a stable ``code``."""

    code = "error"
    status = 400
    default_detail: str | Promise = _("The request could not be processed.")

    def __init__(self, detail: str | Promise | None = None) -> None:
        self.detail = detail if detail is not None else self.default_detail
        super().__init__(str(self.detail))

    def challenge_text(self) -> str:
        """Return the text for a challenge's ``error_description``: English, printable ASCII.

        RFC 6750 §3 (which RFC 9449 §7.1 follows) allows a quoted-string of printable ASCII
        without '"' or '\\' there, for the client's developer; the JSON ``detail`` carries the
        client's language. A detail already formatted in another language gives way to the
        error's English default text.
        """
        with translation.override(None):
            text = str(self.detail)
            if not text.isascii():
                text = str(self.default_detail)
        return "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')


class TokenError(JWTAuthError):
    """The token is malformed, forged, of the wrong type, or otherwise unacceptable."""

    code = "token_invalid"
    status = 401
    default_detail = _("The token is invalid.")


class TokenTypeMismatch(TokenError):
    """The token is of the other type: an access token where a refresh token belongs, or back."""


class TokenExpired(TokenError):
    """The token's ``exp`` has passed (RFC 7519 §4.1.4)."""

    code = "token_expired"
    default_detail = _("The token has expired.")


class TokenRevoked(TokenError):
    """The token, its session or every token of its user has been revoked."""

    code = "token_revoked"
    default_detail = _("The token has been revoked.")


class TokenReused(TokenRevoked):
    """A refresh token was presented after it had been rotated (RFC 9700 §4.14.2)."""

    code = "token_reused"
    default_detail = _("The refresh token was already used; the session has been revoked.")


class NotAuthenticated(JWTAuthError):
    """No credential was presented where one is required."""

    code = "not_authenticated"
    status = 401
    default_detail = _("Authentication credentials were not provided.")


class InvalidCredentials(JWTAuthError):
    """The username and password did not authenticate an active user."""

    code = "invalid_credentials"
    status = 401
    default_detail = _("Unable to log in with the provided credentials.")


class Throttled(JWTAuthError):
    """Too many failed attempts; retry after ``retry_after`` seconds."""

    code = "throttled"
    status = 429
    default_detail = _("Too many failed attempts. Try again later.")

    def __init__(self, retry_after: int, detail: str | Promise | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class InvalidRequest(JWTAuthError):
    """The request body or parameters are malformed."""

    code = "invalid_request"
    status = 400
    default_detail = _("The request is malformed.")


class PayloadTooLarge(JWTAuthError):
    """The request body is larger than ``JWTAUTH_MAX_BODY_SIZE``."""

    code = "payload_too_large"
    status = 413
    default_detail = _("The request body is too large.")


class NotFound(JWTAuthError):
    """The object does not exist or does not belong to the requesting user."""

    code = "not_found"
    status = 404
    default_detail = _("Not found.")


class MethodNotAllowed(JWTAuthError):
    """The endpoint does not answer this HTTP method."""

    code = "method_not_allowed"
    status = 405
    default_detail = _("Method not allowed.")


class Forbidden(JWTAuthError):
    """The request failed a check such as CSRF."""

    code = "permission_denied"
    status = 403
    default_detail = _("Permission denied.")


class ServiceUnavailable(JWTAuthError):
    """The database could not be reached; the client may retry."""

    code = "service_unavailable"
    status = 503
    default_detail = _("The service is temporarily unavailable. Try again shortly.")
    # Sent as Retry-After (RFC 9110 §10.2.3): "shortly" in a form clients can act on, so that
    # they space their retries instead of hammering a server that is waiting on a socket timeout.
    retry_after = 1


class RevocationUnavailable(ServiceUnavailable):
    """A revocation could not be put in force in every process; the client should retry.

    Answered instead of success, so that success always means "refused everywhere".
    """

    code = "revocation_unavailable"
    default_detail = _(
        "The revocation could not be put in force everywhere, so it was not made. "
        "Try again shortly."
    )
    unconfirmed = _(
        "The revocation was recorded but could not yet be confirmed everywhere. Try again shortly."
    )


class ServerMisconfigured(JWTAuthError):
    """The server cannot answer until an operator fixes its set-up (its tables are missing).

    Not a 503: waiting does not help, so clients must not be told to retry (RFC 9110 §15.6.4).
    """

    code = "server_misconfigured"
    status = 500
    default_detail = _(
        "The server is not set up: its database tables are missing. An administrator must run "
        "'python manage.py migrate'."
    )


class KeyConfigurationError(ImproperlyConfigured):
    """A signing or verification key setting is missing or unusable."""

    def __init__(self, check_id: str, msg: str, hint: str = "") -> None:
        self.check_id = check_id
        self.msg = msg
        self.hint = hint
        super().__init__(f"{msg} {hint}".strip())
