"""Read the DPoP settings once per settings change, into one object the request path consults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..conf import cached_until_settings_change, conf

# The proof algorithms jwtauth can verify, with the JWK key type each requires (RFC 7518 §3,
# RFC 9864 §2 for the fully-specified "Ed25519"; the older "EdDSA" means Ed25519 here too).
# "none" and the HMAC algorithms are not among them: a proof must be signed by a private key
# whose public half it carries (RFC 9449 §4.3, check 5).
ALGORITHMS: Final = {
    "ES256": "EC",
    "Ed25519": "OKP",
    "EdDSA": "OKP",
    "PS256": "RSA",
    "RS256": "RSA",
}
DEFAULT_ALGORITHMS: Final = ("ES256", "Ed25519", "EdDSA")
MAX_IAT_SKEW: Final = 300
NONCE_LIFETIME_RANGE: Final = (10, 3600)
# Longer proofs are refused before any parsing. An ES256 proof is about 600 characters and one
# with a 4096-bit RSA key about 2,200.
MAX_PROOF_LENGTH: Final = 4096


@dataclass(frozen=True, slots=True)
class Policy:
    """The DPoP settings, validated and in the form the checks use."""

    algorithms: frozenset[str]
    algs: str
    skew: int
    nonce: bool
    nonce_lifetime: int
    enabled: bool
    required: bool


@cached_until_settings_change
def policy() -> Policy:
    """Return the DPoP policy built from the settings; rebuilt when a setting changes."""
    # An unknown name in the setting is never accepted (check jwtauth.E014 reports it).
    allowed = [
        name for name in conf.DPOP_ALGORITHMS if isinstance(name, str) and name in ALGORITHMS
    ]
    return Policy(
        algorithms=frozenset(allowed),
        algs=" ".join(dict.fromkeys(allowed)),
        skew=conf.DPOP_IAT_SKEW,
        nonce=conf.DPOP_NONCE,
        nonce_lifetime=conf.DPOP_NONCE_LIFETIME,
        enabled=conf.DPOP_ENABLED,
        required=conf.DPOP_REQUIRED,
    )
