"""Normalise an HTTP URI for the ``htu`` comparison (RFC 9449 §4.3, RFC 3986 §6.2.2-6.2.3).

The proof's ``htu`` and the URL the server was asked for both pass through :func:`normalize`
and are then compared as strings. The query and fragment are dropped (RFC 9449 §4.2); the
scheme and host are lower-cased and a default port is dropped (scheme-based normalisation);
the path has its dot-segments removed and its percent-encoding put in one form (syntax-based
normalisation). That form decodes every octet a path segment may carry literally (RFC 3986
§3.3 ``pchar``), not only the unreserved ones: Django routes on the decoded path, so two
spellings that differ only there name one resource here. A ``/`` encoded as ``%2F`` stays
encoded, so segments never merge.
"""

from __future__ import annotations

import functools
import re
from typing import Final
from urllib.parse import quote, unquote_to_bytes, urlsplit

DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# RFC 3986 §3.3: pchar, less the unreserved characters quote() always leaves alone.
_PCHAR_SAFE: Final = "!$&'()*+,;=:@"
# A URI is printable ASCII without spaces (RFC 3986 §2); urlsplit would silently drop the tabs
# and newlines it finds (WHATWG), so they are refused first.
_URI: Final = re.compile(r"[\x21-\x7e]+")
CACHE_SIZE: Final = 1024


def _path(path: str) -> str:
    # RFC 3986 §5.2.4 remove_dot_segments, on segments already percent-normalised (so that
    # "%2E%2E" is a ".." segment, as §6.2.2.3 orders).
    segments = path.split("/")[1:] if path else [""]
    out: list[str] = []
    for i, raw in enumerate(segments):
        segment = quote(unquote_to_bytes(raw), safe=_PCHAR_SAFE)
        last = i == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/" + "/".join(out)


@functools.lru_cache(maxsize=CACHE_SIZE)
def normalize(url: str) -> str:
    """Return ``url`` as ``scheme://host[:port]/path``, or raise ``ValueError``.

    Refused: anything but an absolute ``http``/``https`` URI with a host, and a URI carrying
    userinfo (RFC 9110 §4.2.4 deprecates it; it would put a password in a proof).
    """
    if not _URI.fullmatch(url):
        raise ValueError("not a URI")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.netloc or "@" in parts.netloc:
        raise ValueError("not an http(s) URI with a host and no userinfo")
    host = parts.hostname or ""
    port = parts.port  # raises ValueError for a port that is not a number in range
    if not host:
        raise ValueError("no host")
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        authority += f":{port}"
    return f"{scheme}://{authority}{_path(parts.path)}"
