"""Decode the parts of a DPoP proof strictly: base64url without padding, JSON objects only."""

from __future__ import annotations

import binascii
import json
import re
import string
from typing import Any, Final

from django.utils.translation import gettext_lazy as _

from .errors import InvalidDPoPProof

B64URL: Final = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
SEGMENT: Final = re.compile(r"[A-Za-z0-9_-]+")
_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_PAD_MASK: Final = {2: 0b1111, 3: 0b11}
# The JWS compact serialization (RFC 7515 §7.1): three non-empty base64url segments, so an
# unsigned ("alg": "none") proof, which has an empty third one, never gets further.
COMPACT: Final = re.compile(r"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")


def b64decode(segment: str) -> bytes:
    """Decode an unpadded base64url ``segment`` (RFC 7515 §2) in its one canonical spelling."""
    if not SEGMENT.fullmatch(segment):
        raise InvalidDPoPProof(_("The DPoP proof is not well-formed base64url."))
    # RFC 4648 §3.5: the last character of a segment 2 (3) characters past a multiple of 4
    # carries 4 (2) pad bits; set ones would give the same bytes another spelling. Only the
    # canonical one is accepted, so a proof (and a key's thumbprint input) has one form.
    rest = len(segment) % 4
    if rest == 1 or (rest and B64URL.index(segment[-1]) & _PAD_MASK[rest]):
        raise InvalidDPoPProof(_("The DPoP proof is not well-formed base64url."))
    # The alphabet is known good (ASCII): translate it to the standard one and pad. Bytes, as
    # bytes.translate is a table lookup where str.translate calls back per character.
    padding = b"=" * (-len(segment) % 4)
    return binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD) + padding)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 §5.2 lets a parser reject duplicate member names; doing so leaves no doubt
    # about which "alg" or "jwk" was signed (RFC 8725 §3.1).
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member name")
    return members


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_no_constant)


def json_object(segment: str) -> dict[str, Any]:
    """Decode a base64url ``segment`` holding one UTF-8 JSON object (RFC 7515 §5.2)."""
    try:
        value = _DECODER.decode(b64decode(segment).decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise InvalidDPoPProof(_("The DPoP proof is not well-formed JSON.")) from e
    if not isinstance(value, dict):
        raise InvalidDPoPProof(_("The DPoP proof is not well-formed JSON."))
    return value
