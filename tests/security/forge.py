"""Build JWS compact tokens by hand: any header, any claims, any key, any signature.

The attacks need tokens no library would produce (``alg: none``, a PEM used as an HMAC secret,
an all-zero ECDSA signature), so this module signs with ``cryptography`` and ``hmac`` directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

Signer = Callable[[bytes], bytes]
HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    """Encode ``data`` as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(segment: str) -> bytes:
    """Decode an unpadded base64url segment."""
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def segment(value: Mapping[str, Any] | bytes | str) -> str:
    """Encode a JSON object (or raw bytes/text, for malformed tokens) as a segment."""
    if isinstance(value, Mapping):
        value = json.dumps(value, separators=(",", ":"))
    if isinstance(value, str):
        value = value.encode("utf-8")
    return b64url(value)


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the decoded header and claims of ``token`` (no verification)."""
    head, body, _ = token.split(".")
    return json.loads(unb64url(head)), json.loads(unb64url(body))


def hmac_signer(secret: bytes, alg: str = "HS256") -> Signer:
    """Sign with HMAC and ``secret`` (any bytes: an empty key, a PEM, a guess)."""
    return lambda data: hmac.new(secret, data, HMAC_HASHES[alg]).digest()


def private_signer(private_pem: str) -> Signer:
    """Sign the way the server's asymmetric algorithm does (RS256, ES256 or EdDSA)."""
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):

        def es256(data: bytes) -> bytes:
            # JWS wants the raw r || s pair (RFC 7518 §3.4), not the DER structure.
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return es256
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    raise TypeError(f"unsupported key {type(key).__name__}")


def sign(
    header: Mapping[str, Any] | bytes | str,
    claims: Mapping[str, Any] | bytes | str,
    signer: Signer | None,
) -> str:
    """Return ``header.claims.signature``; ``signer=None`` leaves the signature empty."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = signer(signing_input.encode("ascii")) if signer else b""
    return f"{signing_input}.{b64url(signature)}"
