"""Load, validate and describe the signing and verification keys.

The keys are parsed once per settings change (see
:func:`jwtauth.conf.cached_until_settings_change`), never on the request path. Every problem
raises :class:`~jwtauth.exceptions.KeyConfigurationError` with the system-check id that
``checks.py`` reports, so start-up and run time agree on what is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .conf import cached_until_settings_change, conf
from .exceptions import KeyConfigurationError

# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
SUPPORTED_ALGORITHMS = frozenset(HMAC_MIN_BYTES) | ASYMMETRIC_ALGORITHMS
RSA_MIN_BITS = 2048
# 64 random bytes, base64url-encoded (86 characters): long enough for HS512, so the one command
# the hints, the README and docs/settings.md give suits every HMAC algorithm.
HMAC_KEY_COMMAND = 'python -c "import secrets; print(secrets.token_urlsafe(64))"'

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | (ed448.Ed448PrivateKey)
)
PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | (ed448.Ed448PublicKey)
)


@dataclass(frozen=True)
class Keyring:
    """Hold the parsed keys for one configuration: one signer, several verifiers by ``kid``."""

    algorithm: str
    signing_kid: str
    signing_key: Any
    verifying_keys: dict[str, Any]
    public_jwks: list[dict[str, str]] = field(default_factory=list)

    @property
    def is_symmetric(self) -> bool:
        """Tell whether the algorithm is an HMAC one (no public keys to publish)."""
        return self.algorithm in HMAC_MIN_BYTES


def b64url(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int, length: int | None = None) -> bytes:
    length = length or max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def algorithm() -> str:
    """Return the configured algorithm, or raise if it is not one jwtauth accepts."""
    alg = conf.ALGORITHM
    if not isinstance(alg, str) or alg not in SUPPORTED_ALGORITHMS:
        raise KeyConfigurationError(
            "jwtauth.E002",
            f"JWTAUTH_ALGORITHM={alg!r} is not supported.",
            f"Use one of {', '.join(sorted(SUPPORTED_ALGORITHMS))}; 'none' is never accepted.",
        )
    return alg


def read_pem(value: str | bytes, setting: str) -> bytes:
    """Return PEM bytes from ``value``, which is PEM text or the path of a PEM file."""
    data = value.encode() if isinstance(value, str) else value
    if b"-----BEGIN" in data:
        return data
    try:
        return Path(data.decode()).read_bytes()
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise KeyConfigurationError(
            "jwtauth.E005",
            f"{setting} is neither PEM text nor a readable PEM file ({e.__class__.__name__}).",
            "Set it to the PEM text, or to the path of a PEM file the server can read.",
        ) from e


def hmac_secret(value: str | bytes, setting: str, alg: str) -> bytes:
    """Validate an HMAC secret for ``alg`` and return it as bytes."""
    secret = value.encode() if isinstance(value, str) else value
    if b"-----BEGIN" in secret:
        # RFC 8725 §2.1: a PEM used as an HMAC secret is the key-confusion setup.
        raise KeyConfigurationError(
            "jwtauth.E003",
            f"{setting} looks like a PEM key, but {alg} needs a random secret.",
            "Use JWTAUTH_PRIVATE_KEY with an asymmetric algorithm, or a random HMAC secret.",
        )
    minimum = HMAC_MIN_BYTES[alg]
    if len(secret) < minimum:
        raise KeyConfigurationError(
            "jwtauth.E003",
            f"{setting} is {len(secret)} bytes; {alg} needs at least {minimum} (RFC 7518 §3.2).",
            f"Generate one with: {HMAC_KEY_COMMAND}",
        )
    return secret


def hmac_kid(secret: bytes) -> str:
    """Name an HMAC secret by a one-way digest, so the ``kid`` reveals nothing of it."""
    return b64url(hashlib.sha256(b"jwtauth-kid:" + secret).digest()[:12])


def check_private_key(key: Any, alg: str, setting: str) -> PrivateKey:
    """Raise unless ``key`` is a private key of the family and size ``alg`` requires."""
    if alg == "RS256":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise _wrong_type(setting, alg, "an RSA private key")
        if key.key_size < RSA_MIN_BITS:
            raise KeyConfigurationError(
                "jwtauth.E005",
                f"{setting} is a {key.key_size}-bit RSA key; RS256 needs {RSA_MIN_BITS} bits "
                "or more.",
                "Generate one with: openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072",
            )
    elif alg == "ES256":
        if not (
            isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)
        ):
            raise _wrong_type(setting, alg, "a P-256 EC private key")
    elif not isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        raise _wrong_type(setting, alg, "an Ed25519 or Ed448 private key")
    return key  # type: ignore[no-any-return]


def check_public_key(key: Any, alg: str, setting: str) -> PublicKey:
    """Raise unless ``key`` is a public key of the family and size ``alg`` requires."""
    ok = {
        "RS256": isinstance(key, rsa.RSAPublicKey) and key.key_size >= RSA_MIN_BITS,
        "ES256": isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1),
        "EdDSA": isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey),
    }[alg]
    if not ok:
        raise _wrong_type(setting, alg, "a public key of the matching type and size")
    return key  # type: ignore[no-any-return]


def _wrong_type(setting: str, alg: str, wanted: str) -> KeyConfigurationError:
    return KeyConfigurationError(
        "jwtauth.E005",
        f"{setting} does not hold {wanted}, which JWTAUTH_ALGORITHM={alg} requires.",
        "Generate a key of the right type, or change JWTAUTH_ALGORITHM.",
    )


def load_private_key(value: str | bytes, alg: str) -> PrivateKey:
    """Parse and validate the PEM private key for ``alg``."""
    pem = read_pem(value, "JWTAUTH_PRIVATE_KEY")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as e:
        raise KeyConfigurationError(
            "jwtauth.E005",
            "JWTAUTH_PRIVATE_KEY is not an unencrypted PEM private key.",
            "Provide a PKCS#8 or traditional PEM private key without a passphrase.",
        ) from e
    return check_private_key(key, alg, "JWTAUTH_PRIVATE_KEY")


def load_public_key(value: str | bytes, alg: str, setting: str) -> PublicKey:
    """Parse and validate a PEM public key for ``alg``."""
    pem = read_pem(value, setting)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise KeyConfigurationError(
            "jwtauth.E007", f"{setting} is not a PEM public key.", "Provide a PEM public key."
        ) from e
    return check_public_key(key, alg, setting)


def public_jwk(key: PublicKey, alg: str) -> dict[str, str]:
    """Describe ``key`` as a public JWK (RFC 7517) whose ``kid`` is its RFC 7638 thumbprint."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        members = {
            "e": b64url(_int_bytes(numbers.e)),
            "kty": "RSA",
            "n": b64url(_int_bytes(numbers.n)),
        }
    elif isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url(_int_bytes(point.x, 32)),
            "y": b64url(_int_bytes(point.y, 32)),
        }
    else:
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        crv = "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
        members = {"crv": crv, "kty": "OKP", "x": b64url(raw)}
    # RFC 7638 §3: hash the required members only, sorted, with no whitespace.
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    kid = b64url(hashlib.sha256(canonical).digest())
    return {**members, "kid": kid, "use": "sig", "alg": alg}


def _symmetric_keyring(alg: str) -> Keyring:
    if not conf.SECRET_KEY:
        raise KeyConfigurationError(
            "jwtauth.E001",
            f"JWTAUTH_SECRET_KEY is empty; {alg} needs a secret to sign tokens.",
            f"Set JWTAUTH_SECRET_KEY to a random secret of its own: {HMAC_KEY_COMMAND}",
        )
    secret = hmac_secret(conf.SECRET_KEY, "JWTAUTH_SECRET_KEY", alg)
    kid = hmac_kid(secret)
    verifying = {kid: secret}
    for i, fallback in enumerate(conf.SECRET_KEY_FALLBACKS):
        old = hmac_secret(fallback, f"JWTAUTH_SECRET_KEY_FALLBACKS[{i}]", alg)
        verifying.setdefault(hmac_kid(old), old)
    return Keyring(alg, kid, secret, verifying)


def _asymmetric_keyring(alg: str) -> Keyring:
    if not conf.PRIVATE_KEY:
        raise KeyConfigurationError(
            "jwtauth.E001",
            f"JWTAUTH_PRIVATE_KEY is empty; {alg} needs a private key to sign tokens.",
            "Set JWTAUTH_PRIVATE_KEY to PEM text or the path of a PEM file.",
        )
    private = load_private_key(conf.PRIVATE_KEY, alg)
    public = private.public_key()
    if conf.PUBLIC_KEY:
        configured = load_public_key(conf.PUBLIC_KEY, alg, "JWTAUTH_PUBLIC_KEY")
        if _spki(configured) != _spki(public):
            raise KeyConfigurationError(
                "jwtauth.E006",
                "JWTAUTH_PUBLIC_KEY does not match JWTAUTH_PRIVATE_KEY.",
                "Leave JWTAUTH_PUBLIC_KEY empty (it is derived) or set the matching public key.",
            )
    jwks = [public_jwk(public, alg)]
    verifying: dict[str, Any] = {jwks[0]["kid"]: public}
    for i, value in enumerate(conf.PUBLIC_KEY_FALLBACKS):
        old = load_public_key(value, alg, f"JWTAUTH_PUBLIC_KEY_FALLBACKS[{i}]")
        jwk = public_jwk(old, alg)
        if jwk["kid"] not in verifying:
            verifying[jwk["kid"]] = old
            jwks.append(jwk)
    return Keyring(alg, jwks[0]["kid"], private, verifying, jwks)


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def build_keyring() -> Keyring:
    """Build the keyring from the settings as they are now; raise if they are unusable."""
    alg = algorithm()
    if alg in HMAC_MIN_BYTES:
        return _symmetric_keyring(alg)
    return _asymmetric_keyring(alg)


@cached_until_settings_change
def keyring() -> Keyring:
    """Return the keyring, built once and again only after a ``JWTAUTH_*`` setting changes."""
    return build_keyring()
