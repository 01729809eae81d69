"""Load the public key a DPoP proof carries, name it by its thumbprint, and verify with it.

Only public keys of the type the proof's ``alg`` requires are accepted (RFC 9449 §4.3, checks 5
and 7), in the one canonical encoding RFC 7518 §6 gives them, so that the RFC 7638 thumbprint
computed from the members received is the key's thumbprint and nothing else. Parsed keys are
kept in bounded caches, by the JWK as received and by the thumbprint input: a client's key is
checked, parsed and its point validated once, not on every request.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.utils.translation import gettext_lazy as _

from ..keys import RSA_MIN_BITS, b64url
from .errors import InvalidDPoPProof
from .jose import SEGMENT, b64decode
from .policy import ALGORITHMS

# Verifying with a larger RSA key costs more, and nothing needs one (RFC 7518 §3.3, §3.5 set
# the minimum only).
RSA_MAX_BITS: Final = 4096
KEY_CACHE_SIZE: Final = 4096
CURVES: Final = {"EC": "P-256", "OKP": "Ed25519"}
# RFC 7638 §3.2: the members a thumbprint covers, which are also all the key material.
REQUIRED: Final = {"EC": ("crv", "x", "y"), "OKP": ("crv", "x"), "RSA": ("e", "n")}
# RFC 7517 §4 members that describe a key without changing it.
DESCRIPTIVE: Final = frozenset({"alg", "use", "kid", "key_ops", "ext"})
# RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2, and "k" of a symmetric key (§6.4.1).
PRIVATE: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_ECDSA: Final = ec.ECDSA(hashes.SHA256())
_PKCS1: Final = padding.PKCS1v15()
# RFC 7518 §3.5: the PSS salt is as long as the hash output.
_PSS: Final = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
_SHA256: Final = hashes.SHA256()


@dataclass(frozen=True, slots=True)
class ProofKey:
    """A proof's public key, parsed, with its RFC 7638 SHA-256 thumbprint (``jkt``)."""

    kty: str
    key: Any
    jkt: str


def _check_members(jwk: dict[str, Any], kty: str, alg: str) -> tuple[str, ...]:
    if not PRIVATE.isdisjoint(jwk):
        raise InvalidDPoPProof(_("The DPoP proof's jwk holds a private key."))
    if jwk.get("kty") != kty:
        raise InvalidDPoPProof(_("The DPoP proof's jwk is not a key for its algorithm."))
    required = REQUIRED[kty]
    if not jwk.keys() <= DESCRIPTIVE.union(required, ("kty",)) or not jwk.keys() >= set(required):
        raise InvalidDPoPProof(_("The DPoP proof's jwk has unexpected or missing members."))
    # RFC 7517 §4.2, §4.4: a key meant for something else is not used for this.
    if jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
        raise InvalidDPoPProof(_("The DPoP proof's jwk is not a key for its algorithm."))
    values = tuple(jwk[name] for name in required)
    if not all(isinstance(value, str) and SEGMENT.fullmatch(value) for value in values):
        raise InvalidDPoPProof(_("The DPoP proof's jwk is malformed."))
    if kty in CURVES and jwk["crv"] != CURVES[kty]:
        raise InvalidDPoPProof(_("The DPoP proof's jwk is not a key for its algorithm."))
    return values


def load(jwk: Any, alg: str) -> ProofKey:
    """Return the public key ``jwk`` describes, refusing any key ``alg`` cannot be used with."""
    if not isinstance(jwk, dict):
        raise InvalidDPoPProof(_("The DPoP proof's jwk is malformed."))
    members = tuple(jwk.items())
    if all(isinstance(value, str) for _, value in members):
        # The usual case: a client's key, sent with the same members on every request.
        return _load_members(alg, members)
    return _load(jwk, alg)


def _load(jwk: dict[str, Any], alg: str) -> ProofKey:
    kty = ALGORITHMS[alg]
    return _parse(kty, _check_members(jwk, kty, alg))


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _load_members(alg: str, members: tuple[tuple[str, str], ...]) -> ProofKey:
    # The checks depend on nothing else, so a JWK that passed them once passes again; one that
    # failed raised, and lru_cache keeps results only: it is checked again every time.
    return _load(dict(members), alg)


def _unsigned(value: str, name: str) -> int:
    data = b64decode(value)
    # RFC 7518 §6.3.1: base64urlUInt is the shortest big-endian encoding.
    if not data or (data[0] == 0 and len(data) > 1):
        raise InvalidDPoPProof(
            _("The DPoP proof's jwk member '%(name)s' is not minimal.") % {"name": name}
        )
    return int.from_bytes(data, "big")


def _exactly(value: str, length: int) -> bytes:
    data = b64decode(value)
    if len(data) != length:
        raise InvalidDPoPProof(_("The DPoP proof's jwk is not a key for its algorithm."))
    return data


def _public_key(kty: str, values: tuple[str, ...]) -> Any:
    try:
        if kty == "EC":
            point = b"\x04" + _exactly(values[1], 32) + _exactly(values[2], 32)
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if kty == "OKP":
            return ed25519.Ed25519PublicKey.from_public_bytes(_exactly(values[1], 32))
        key = rsa.RSAPublicNumbers(
            _unsigned(values[0], "e"), _unsigned(values[1], "n")
        ).public_key()
    except ValueError as e:  # not a point on the curve, an even exponent, ...
        raise InvalidDPoPProof(_("The DPoP proof's jwk is not a valid public key.")) from e
    if not RSA_MIN_BITS <= key.key_size <= RSA_MAX_BITS:
        raise InvalidDPoPProof(_("The DPoP proof's RSA key must have 2048 to 4096 bits."))
    return key


def thumbprint(kty: str, values: tuple[str, ...]) -> str:
    """Return the RFC 7638 SHA-256 thumbprint of a key given by its required member values."""
    # RFC 7638 §3.3: the required members in lexicographic order, no whitespace. The values are
    # base64url (or a fixed curve name), so they need no JSON escaping.
    members = dict(zip(REQUIRED[kty], values, strict=True), kty=kty)
    canonical = ",".join(f'"{name}":"{members[name]}"' for name in sorted(members))
    return b64url(hashlib.sha256(f"{{{canonical}}}".encode("ascii")).digest())


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _parse(kty: str, values: tuple[str, ...]) -> ProofKey:
    # Cached by the thumbprint's input: the same members are the same key. A failure is not
    # cached (lru_cache keeps results only), so a bad key is refused every time.
    return ProofKey(kty, _public_key(kty, values), thumbprint(kty, values))


def verify(key: ProofKey, alg: str, signature: bytes, signing_input: bytes) -> bool:
    """Tell whether ``signature`` over ``signing_input`` is ``key``'s, under ``alg``."""
    try:
        if key.kty == "EC":
            # RFC 7518 §3.4: R || S, 32 octets each, not DER.
            if len(signature) != 64:
                return False
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.key.verify(encode_dss_signature(r, s), signing_input, _ECDSA)
        elif key.kty == "OKP":
            key.key.verify(signature, signing_input)
        else:
            if len(signature) != (key.key.key_size + 7) // 8:
                return False
            scheme = _PSS if alg == "PS256" else _PKCS1
            key.key.verify(signature, signing_input, scheme, _SHA256)
    except InvalidSignature:
        return False
    return True
