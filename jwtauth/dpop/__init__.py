"""DPoP, OAuth 2.0 Demonstrating Proof of Possession (RFC 9449): verify proofs, bind tokens.

The API the request layer calls::

    proof = verify_proof(request.headers.get("DPoP"), method=request.method,
                         url=request.build_absolute_uri(), access_token=token_or_none)
    check_binding(token.claims, proof)  # proof=None for a Bearer request
    check_grant(refresh_token.claims, proof_or_none)  # at the token endpoint

Failures raise :class:`InvalidDPoPProof` (``invalid_dpop_proof``), :class:`UseDPoPNonce`
(``use_dpop_nonce``, with the nonce to send in ``DPoP-Nonce``), :class:`DPoPBindingError` (a
:class:`~jwtauth.exceptions.TokenError`, ``invalid_token``) or
:class:`ReplayCacheUnavailable` (503); :func:`challenge` gives the headers that answer each.
See docs/dpop.md.
"""

from .binding import bound_jkt, check_binding, check_grant, confirmation
from .errors import (
    DPoPBindingError,
    DPoPError,
    InvalidDPoPProof,
    ReplayCacheUnavailable,
    UseDPoPNonce,
    challenge,
)
from .nonces import current_nonce
from .proof import Proof, ath, check_proof, verify_proof

__all__ = [
    "DPoPBindingError",
    "DPoPError",
    "InvalidDPoPProof",
    "Proof",
    "ReplayCacheUnavailable",
    "UseDPoPNonce",
    "ath",
    "bound_jkt",
    "challenge",
    "check_binding",
    "check_grant",
    "check_proof",
    "confirmation",
    "current_nonce",
    "verify_proof",
]
