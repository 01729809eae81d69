"""Bind tokens to a DPoP key with the ``cnf`` claim, and check a request against the binding.

RFC 9449 §6.1: a bound access token carries ``"cnf": {"jkt": <thumbprint>}``; §7.1: it is
accepted only with a proof from that key, under the ``DPoP`` scheme, and never as a bearer
token (no downgrade).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any, Final

from django.utils.translation import gettext_lazy as _

from ..exceptions import TokenError
from .errors import DPoPBindingError, InvalidDPoPProof
from .policy import policy
from .proof import Proof

# A SHA-256 thumbprint: 32 bytes, 43 base64url characters (RFC 7638 §3, RFC 9449 §6.1).
_JKT: Final = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


def confirmation(jkt: str) -> dict[str, Any]:
    """Return the claims binding a token to the key with thumbprint ``jkt`` (for ``extra``)."""
    return {"cnf": {"jkt": jkt}}


def bound_jkt(claims: Mapping[str, Any]) -> str | None:
    """Return the thumbprint a verified token is bound to, or ``None`` for a bearer token."""
    cnf = claims.get("cnf")
    if cnf is None:
        return None
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if not isinstance(jkt, str) or not _JKT.fullmatch(jkt):
        raise TokenError(_("The token's confirmation claim is malformed."))
    return jkt


def check_binding(claims: Mapping[str, Any], proof: Proof | None) -> None:
    """Raise unless a token with ``claims`` may be used with ``proof`` (``None``: as Bearer).

    A bound token needs a proof from its key; a bearer token is refused under the DPoP scheme,
    where nothing would tie the proof to it, and under ``JWTAUTH_DPOP_REQUIRED`` at all.
    """
    jkt = bound_jkt(claims)
    if jkt is None:
        if proof is not None:
            raise DPoPBindingError(_("The token is not bound to a key; send it as Bearer."))
        if policy().required:
            raise DPoPBindingError(
                _("This server accepts DPoP-bound tokens only; log in again with a DPoP proof.")
            )
        return
    if proof is None:
        raise DPoPBindingError(_("The token is bound to a key; send it with DPoP and a proof."))
    if not hmac.compare_digest(jkt, proof.jkt):
        raise DPoPBindingError(_("The DPoP proof was made with another key than the token's."))


def check_grant(claims: Mapping[str, Any], proof: Proof | None) -> str | None:
    """Raise unless a refresh token with ``claims`` may be used with ``proof`` (``None``: none).

    RFC 9449 §5: a bound refresh token is used only with a proof from its key; a bearer one
    with none (its session was not bound at login, and is not bound later). Return the key's
    thumbprint, or ``None`` for a bearer refresh token.
    """
    jkt = bound_jkt(claims)
    if jkt is None:
        if proof is not None:
            raise InvalidDPoPProof(
                _("The refresh token is not bound to a key; send it without a DPoP proof.")
            )
        check_binding(claims, None)  # JWTAUTH_DPOP_REQUIRED refuses it
        return None
    if proof is None:
        raise InvalidDPoPProof(
            _("The refresh token is bound to a key; send a DPoP proof made with that key.")
        )
    if not hmac.compare_digest(jkt, proof.jkt):
        raise InvalidDPoPProof(
            _("The DPoP proof was made with another key than the refresh token's.")
        )
    return jkt
