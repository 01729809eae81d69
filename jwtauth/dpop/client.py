"""Make DPoP proofs as a client does (RFC 9449 §4.2): one key pair, a fresh proof per request.

This side needs no Django settings: it is what :mod:`jwtauth.contrib.httpx` uses, and what any
other HTTP client can call::

    key = DPoPKey.generate()  # EC P-256, ES256
    headers = {"DPoP": key.proof("GET", "https://api.example/items/", access_token=token),
               "Authorization": f"DPoP {token}"}
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..keys import b64url, public_jwk
from .jwk import REQUIRED
from .proof import ath

# An Ed25519 key signs "Ed25519" (RFC 9864), or "EdDSA" for servers that predate it.
ALGORITHMS_EDDSA: Final = ("Ed25519", "EdDSA")


def htu(url: str) -> str:
    """Return the ``htu`` for a request to ``url``: no query, fragment or userinfo (§4.2)."""
    parts = urlsplit(url)
    authority = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, authority, parts.path or "/", "", ""))


def _json(data: dict[str, Any]) -> str:
    return b64url(json.dumps(data, separators=(",", ":")).encode())


class DPoPKey:
    """Hold a private key (EC P-256 or Ed25519) and sign DPoP proofs with it."""

    def __init__(self, private_key: Any, alg: str | None = None) -> None:
        if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
            private_key.curve, ec.SECP256R1
        ):
            allowed: tuple[str, ...] = ("ES256",)
        elif isinstance(private_key, ed25519.Ed25519PrivateKey):
            allowed = ALGORITHMS_EDDSA
        else:
            raise ValueError("DPoP keys must be EC P-256 or Ed25519 private keys.")
        alg = alg or allowed[0]
        if alg not in allowed:
            raise ValueError(f"A {type(private_key).__name__} cannot sign {alg}.")
        self.private_key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey = private_key
        self.alg = alg
        described = public_jwk(private_key.public_key(), alg)
        kty = described["kty"]
        # Only the key's own members (RFC 7638 §3.2), the minimal public JWK.
        self.jwk: dict[str, str] = {"kty": kty, **{m: described[m] for m in REQUIRED[kty]}}
        self.thumbprint: str = described["kid"]
        self._header = _json({"typ": "dpop+jwt", "alg": alg, "jwk": self.jwk})

    @classmethod
    def generate(cls, alg: str = "ES256") -> DPoPKey:
        """Return a new key for ``alg`` (``ES256``, ``Ed25519`` or ``EdDSA``)."""
        if alg == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()), alg)
        if alg in ALGORITHMS_EDDSA:
            return cls(ed25519.Ed25519PrivateKey.generate(), alg)
        raise ValueError(f"Unsupported DPoP algorithm {alg!r}; use ES256 or Ed25519.")

    @classmethod
    def from_pem(cls, pem: bytes, alg: str | None = None) -> DPoPKey:
        """Return the key stored by :meth:`to_pem` (an unencrypted PKCS#8 PEM)."""
        return cls(serialization.load_pem_private_key(pem, password=None), alg)

    def to_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM; store it as a secret."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def _sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # RFC 7518 §3.4
        return self.private_key.sign(data)

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """Return a proof for one ``method`` request to ``url``, fresh ``jti`` and ``iat``."""
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": htu(url),
            "iat": int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = ath(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        signing_input = f"{self._header}.{_json(claims)}"
        return f"{signing_input}.{b64url(self._sign(signing_input.encode('ascii')))}"
