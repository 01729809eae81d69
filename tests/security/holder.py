"""A DPoP client made of ``cryptography`` alone: a key pair and proofs, well- or ill-formed.

The attacks need proofs no client library would make (a private key in the ``jwk``, ``alg``
``none``, an ``ath`` hashed with SHA-512), so proofs are assembled by hand with
:func:`tests.security.forge.sign`; nothing here comes from jwtauth.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.security import forge

DROP = object()


def ath(token: str, digest: Any = hashlib.sha256) -> str:
    """Return RFC 9449's ``ath``: base64url(SHA-256(token)), or another ``digest``."""
    return forge.b64url(digest(token.encode("ascii")).digest())


class Holder:
    """One client key pair (EC P-256 for ES256, or Ed25519) and the proofs it signs."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg == "ES256":
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
            numbers = self.private.public_key().public_numbers()
            self.jwk = {
                "kty": "EC",
                "crv": "P-256",
                "x": forge.b64url(numbers.x.to_bytes(32, "big")),
                "y": forge.b64url(numbers.y.to_bytes(32, "big")),
            }
            self.private_member = forge.b64url(
                self.private.private_numbers().private_value.to_bytes(32, "big")
            )
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            raw = self.private.public_key().public_bytes_raw()
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": forge.b64url(raw)}
            self.private_member = forge.b64url(self.private.private_bytes_raw())

    @property
    def thumbprint(self) -> str:
        """Return the key's RFC 7638 SHA-256 thumbprint."""
        canonical = json.dumps(self.jwk, sort_keys=True, separators=(",", ":"))
        return forge.b64url(hashlib.sha256(canonical.encode()).digest())

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` as JWS ES256 (raw r || s) or EdDSA does."""
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return bytes(self.private.sign(data))

    def proof(
        self,
        method: str,
        url: str,
        token: str | None = None,
        *,
        header: dict[str, Any] | None = None,
        signer: Any = "own",
        **claims: Any,
    ) -> str:
        """Return a proof for ``method`` ``url`` (with ``ath`` of ``token``), with changes.

        ``header`` and ``claims`` replace (or, with :data:`DROP`, remove) members; ``signer``
        is ``"own"`` (this key), ``None`` (no signature) or any callable.
        """
        body: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if token is not None:
            body["ath"] = ath(token)
        head: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": dict(self.jwk)}
        for target, changes in ((head, header or {}), (body, claims)):
            for name, value in changes.items():
                if value is DROP:
                    target.pop(name, None)
                else:
                    target[name] = value
        return forge.sign(head, body, self.sign if signer == "own" else signer)
