"""Issue and check server nonces (RFC 9449 §8, §9) that need no shared state.

A nonce is a time step and a MAC of it under a key derived from Django's ``SECRET_KEY``: every
process that shares the secret issues the same nonce during a step and accepts it in any
process, with no cache or database round trip. The nonce rotates every
``JWTAUTH_DPOP_NONCE_LIFETIME`` seconds; the current and the previous step are accepted, so a
nonce stays good for one to two lifetimes and a client that just received one is never refused
at the turn of a step.
"""

from __future__ import annotations

import hmac
from typing import Final

from django.utils.crypto import salted_hmac

from ..clock import now
from ..keys import b64url
from .errors import InvalidDPoPProof
from .jose import b64decode
from .policy import policy

_SALT: Final = "jwtauth.dpop.nonce"
_STEP_BYTES: Final = 8
_MAC_BYTES: Final = 16  # 128 bits: guessing one is out of reach within a step
_LENGTH: Final = 32  # base64url characters of the 24 bytes


def _step() -> int:
    return int(now().timestamp()) // policy().nonce_lifetime


def _mac(step: int) -> bytes:
    return salted_hmac(_SALT, str(step), algorithm="sha256").digest()[:_MAC_BYTES]


def _nonce(step: int) -> str:
    return b64url(step.to_bytes(_STEP_BYTES, "big") + _mac(step))


def current_nonce() -> str:
    """Return the nonce of the current step, for a ``DPoP-Nonce`` header."""
    return _nonce(_step())


def is_valid(nonce: object) -> bool:
    """Tell whether ``nonce`` is one this deployment issued in the current or previous step."""
    if not isinstance(nonce, str) or len(nonce) != _LENGTH:
        return False
    try:
        raw = b64decode(nonce)
    except InvalidDPoPProof:
        return False
    step = int.from_bytes(raw[:_STEP_BYTES], "big")
    current = _step()
    if step not in (current, current - 1):
        return False
    # Constant time: the MAC is the secret part (RFC 9449 §8 leaves the nonce's form to us).
    return hmac.compare_digest(raw[_STEP_BYTES:], _mac(step))
