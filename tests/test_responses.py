"""The JSON error answers and their headers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jwtauth import requestauth, responses
from jwtauth.credentials import BEARER, DPOP
from jwtauth.dpop import (
    DPoPBindingError,
    InvalidDPoPProof,
    ReplayCacheUnavailable,
    UseDPoPNonce,
    current_nonce,
)
from jwtauth.exceptions import (
    Forbidden,
    InvalidCredentials,
    InvalidRequest,
    JWTAuthError,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    RevocationUnavailable,
    ServiceUnavailable,
    Throttled,
    TokenError,
    TokenExpired,
    TokenReused,
    TokenRevoked,
)
from tests.conftest import NO_CREDENTIAL


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (TokenError(), 401, "token_invalid"),
        (TokenExpired(), 401, "token_expired"),
        (TokenRevoked(), 401, "token_revoked"),
        (TokenReused(), 401, "token_reused"),
        (NotAuthenticated(), 401, "not_authenticated"),
        (InvalidCredentials(), 401, "invalid_credentials"),
        (Throttled(retry_after=300), 429, "throttled"),
        (InvalidRequest(), 400, "invalid_request"),
        (PayloadTooLarge(), 413, "payload_too_large"),
        (NotFound(), 404, "not_found"),
        (Forbidden(), 403, "permission_denied"),
        (ServiceUnavailable(), 503, "service_unavailable"),
    ],
)
def test_every_error_is_a_json_object_with_a_stable_code(
    exc: JWTAuthError, status: int, code: str
) -> None:
    response = responses.error(exc)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {"error": code, "detail": str(exc.detail)}


@pytest.mark.parametrize("exc", [TokenError(), TokenExpired(), TokenRevoked(), TokenReused()])
def test_token_errors_carry_an_invalid_token_challenge(exc: TokenError) -> None:
    response = responses.error(exc)
    assert response["WWW-Authenticate"] == (
        f'Bearer error="invalid_token", error_description="{exc.detail}"'
    )
    assert response["Cache-Control"] == "no-store"


def test_no_credential_gets_a_bare_challenge() -> None:
    # RFC 6750 §3.1: a request without authentication information gets no error code.
    assert responses.error(NotAuthenticated())["WWW-Authenticate"] == NO_CREDENTIAL


@pytest.mark.parametrize(
    "exc", [InvalidCredentials(), InvalidRequest(), NotFound(), Forbidden(), Throttled(9)]
)
def test_other_errors_carry_no_bearer_challenge(exc: JWTAuthError) -> None:
    assert "WWW-Authenticate" not in responses.error(exc)


def test_the_description_is_kept_to_the_quoted_string_grammar() -> None:
    response = responses.error(TokenError('bad "token" \\ with\r\nX-Injected: 1'))
    assert response["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="bad token  withX-Injected: 1"'
    )
    # Text that is not ASCII (a translation, say) gives way to the error's English text.
    response = responses.error(TokenError("bad token with ünïcode"))
    assert response["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="The token is invalid."'
    )
    response = responses.error(TokenError('bad "token" \\ with ünïcode\r\nX-Injected: 1'))
    # The body keeps the full text: JSON escapes it safely.
    assert json.loads(response.content)["detail"] == 'bad "token" \\ with ünïcode\r\nX-Injected: 1'


def test_throttled_says_when_to_retry() -> None:
    response = responses.error(Throttled(retry_after=120))
    assert response["Retry-After"] == "120"
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("exc", [ServiceUnavailable(), RevocationUnavailable()])
def test_unavailable_says_when_to_retry(exc: ServiceUnavailable) -> None:
    # Clients space their retries instead of hammering a server that waits on a timeout.
    assert responses.error(exc)["Retry-After"] == "1"


def test_token_payloads_are_never_cached() -> None:
    response = responses.tokens({"access": "a", "refresh": "r"})
    assert response.status_code == 200
    assert json.loads(response.content) == {"access": "a", "refresh": "r"}
    assert response["Cache-Control"] == "no-store"  # RFC 6749 §5.1
    assert response["Pragma"] == "no-cache"


def test_method_not_allowed_names_the_allowed_methods() -> None:
    response = responses.method_not_allowed(("GET", "HEAD"))
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert json.loads(response.content)["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("exc", "value"),
    [
        (None, NO_CREDENTIAL),
        (NotAuthenticated(), NO_CREDENTIAL),
        (
            TokenExpired(),
            'Bearer error="invalid_token", error_description="The token has expired."',
        ),
        (Forbidden(), None),
        (ServiceUnavailable(), None),
    ],
)
def test_challenge_is_the_one_every_adapter_sends(exc: JWTAuthError | None, value: str) -> None:
    assert responses.challenge(exc) == value


@pytest.mark.django_db
def test_refused_clears_the_access_cookie_it_was_owed_to(rf: Any, settings: Any) -> None:
    settings.JWTAUTH_COOKIES = True
    with_cookie = rf.get("/")
    with_cookie.COOKIES["auth_token"] = "a.b.c"
    requestauth.authenticate(with_cookie)
    cleared = responses.refused(with_cookie, TokenError())
    assert cleared.cookies["auth_token"]["max-age"] == 0
    assert "auth_token" not in responses.refused(with_cookie, Forbidden()).cookies
    with_header = rf.get("/", HTTP_AUTHORIZATION="Bearer a.b.c")
    with_header.COOKIES["auth_token"] = "a.b.c"
    requestauth.authenticate(with_header)
    assert not responses.refused(with_header, TokenError()).cookies


# --- DPoP (RFC 9449): the scheme's challenge and the nonce -------------------------------

ALGS = 'algs="ES256 Ed25519 EdDSA"'


@pytest.mark.parametrize(
    ("exc", "scheme", "value"),
    [
        (
            TokenExpired(),
            DPOP,
            f'DPoP error="invalid_token", error_description="The token has expired.", {ALGS}',
        ),
        (
            InvalidDPoPProof(),
            DPOP,
            f'DPoP error="invalid_dpop_proof", error_description="The DPoP proof is invalid.", '
            f"{ALGS}",
        ),
        # A bound token presented as Bearer is answered under DPoP (no downgrade, §7.1).
        (
            DPoPBindingError(),
            BEARER,
            'DPoP error="invalid_token", error_description="The token is bound to another '
            f'key.", {ALGS}',
        ),
        (ReplayCacheUnavailable(), DPOP, None),
        (Forbidden(), DPOP, None),
    ],
)
def test_a_dpop_refusal_gets_the_dpop_challenge(
    exc: JWTAuthError, scheme: str, value: str | None
) -> None:
    assert responses.challenge(exc, scheme) == value


def test_a_nonce_refusal_carries_the_nonce_at_a_resource_and_a_token_endpoint() -> None:
    exc = UseDPoPNonce("n0nce")
    resource = responses.error(exc, scheme=DPOP)
    assert (resource.status_code, resource["DPoP-Nonce"]) == (401, "n0nce")
    assert resource["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
    assert resource["Cache-Control"] == "no-store"
    token_endpoint = responses.error(exc, token_endpoint=True)
    # RFC 9449 §5, §8: the token endpoint answers 400, with the nonce and no challenge.
    assert (token_endpoint.status_code, token_endpoint["DPoP-Nonce"]) == (400, "n0nce")
    assert "WWW-Authenticate" not in token_endpoint
    assert json.loads(token_endpoint.content)["error"] == "use_dpop_nonce"


def test_only_proof_problems_become_400_at_a_token_endpoint() -> None:
    assert responses.error(TokenExpired(), token_endpoint=True).status_code == 401
    assert responses.error(InvalidDPoPProof(), token_endpoint=True).status_code == 400


@pytest.mark.parametrize(
    ("required", "enabled", "value"),
    [(False, True, NO_CREDENTIAL), (True, True, f"DPoP {ALGS}"), (False, False, "Bearer")],
)
def test_no_credential_is_offered_every_scheme_taken(
    settings: Any, required: bool, enabled: bool, value: str
) -> None:
    settings.JWTAUTH_DPOP_REQUIRED = required
    settings.JWTAUTH_DPOP_ENABLED = enabled
    assert responses.challenge(None) == value


@pytest.mark.django_db
def test_a_dpop_request_is_offered_the_next_nonce_when_nonces_are_on(
    rf: Any, settings: Any
) -> None:
    request = rf.get("/", HTTP_DPOP="a.b.c")
    requestauth.authenticate(request)
    response = responses.tokens({})
    responses.offer_nonce(request, response)
    assert "DPoP-Nonce" not in response
    settings.JWTAUTH_DPOP_NONCE = True
    responses.offer_nonce(request, response)
    assert response["DPoP-Nonce"] == current_nonce()
    without_proof = responses.tokens({})
    responses.offer_nonce(rf.get("/"), without_proof)
    assert "DPoP-Nonce" not in without_proof
