"""Define the DPoP errors and the challenge headers that answer them (RFC 9449 §5, §7.1, §9)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..exceptions import JWTAuthError, NotAuthenticated, ServiceUnavailable, TokenError
from .policy import policy


class DPoPError(JWTAuthError):
    """Base class: a DPoP proof problem, answered 401 at a resource and 400 at a token endpoint."""

    status = 401
    # RFC 9449 §5: the token endpoint answers as RFC 6749 §5.2 does, with 400.
    token_endpoint_status = 400


class InvalidDPoPProof(DPoPError):
    """The proof is missing, malformed, badly signed, stale, replayed or for another request."""

    code = "invalid_dpop_proof"
    default_detail = _("The DPoP proof is invalid.")


class UseDPoPNonce(DPoPError):
    """The server requires a nonce the proof lacks or has let expire (RFC 9449 §8, §9).

    ``nonce`` is the fresh nonce to send back in the ``DPoP-Nonce`` header.
    """

    code = "use_dpop_nonce"
    default_detail = _("The DPoP proof must carry the nonce the server provides.")

    def __init__(self, nonce: str, detail: str | Promise | None = None) -> None:
        self.nonce = nonce
        super().__init__(detail)


class DPoPBindingError(TokenError):
    """The access token's key binding and the request disagree (RFC 9449 §7.1: invalid_token)."""

    default_detail = _("The token is bound to another key.")


class ReplayCacheUnavailable(ServiceUnavailable):
    """The replay cache could not record the proof; the proof is refused unchecked (fail closed)."""

    default_detail = _("DPoP proofs cannot be checked right now. Try again shortly.")


def challenge(exc: JWTAuthError | None = None, *, token_endpoint: bool = False) -> dict[str, str]:
    """Return the headers answering a DPoP request refused with ``exc`` (or with no credential).

    At a resource (RFC 9449 §7.1): ``WWW-Authenticate: DPoP error="...", algs="..."``, with no
    error for a request that presented no credential. At a token endpoint (``token_endpoint``,
    RFC 9449 §5) there is no challenge. Both add ``DPoP-Nonce`` to a ``use_dpop_nonce`` error.
    Errors of other kinds (a 503, say) get no challenge.
    """
    headers: dict[str, str] = {}
    if isinstance(exc, UseDPoPNonce):
        headers["DPoP-Nonce"] = exc.nonce
    if token_endpoint:
        return headers
    if exc is None or isinstance(exc, NotAuthenticated):
        params = []
    elif isinstance(exc, DPoPError | TokenError):
        error = exc.code if isinstance(exc, DPoPError) else "invalid_token"
        params = [f'error="{error}"', f'error_description="{exc.challenge_text()}"']
    else:
        return headers
    params.append(f'algs="{policy().algs}"')
    headers["WWW-Authenticate"] = "DPoP " + ", ".join(params)
    return headers
