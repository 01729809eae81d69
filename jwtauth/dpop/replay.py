"""Refuse a DPoP proof seen before (RFC 9449 §11.1), across processes, failing closed.

Each accepted proof's ``jti`` is recorded in the ``JWTAUTH_CACHE`` cache with one atomic
"add if absent" (``SET NX`` with a TTL on django-redis), under its key's thumbprint: the first
request with a proof wins, every later one is refused, in whatever process it arrives. The
entry outlives the proof's acceptance window, so a replay is never accepted after the record
expires. When the cache cannot answer, the proof is refused as unchecked with a 503
(:class:`~jwtauth.dpop.errors.ReplayCacheUnavailable`), never accepted.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import TYPE_CHECKING

from django.core.cache import caches
from django.utils.translation import gettext_lazy as _

from ..cachestate import Claim
from ..clock import now
from ..conf import conf
from ..keys import b64url
from .errors import InvalidDPoPProof, ReplayCacheUnavailable
from .policy import policy

if TYPE_CHECKING:
    from .proof import Proof

logger = logging.getLogger("jwtauth")


def replay_key(jkt: str, jti: str) -> str:
    """Return the cache key recording proof ``jti`` of key ``jkt``."""
    # Hashed: the jti is the client's text, of any length and alphabet; the key stays short
    # and holds none of it. Keyed by the thumbprint too, so one client cannot burn the jtis of
    # another.
    digest = hashlib.sha256(f"{jkt}\x00{jti}".encode("utf-8", "surrogatepass")).digest()
    return f"jwtauth:dpop:{b64url(digest)}"


def ttl(iat: float) -> int:
    """Return how long to remember a proof issued at ``iat``, in whole seconds."""
    # Accepted while iat + skew has not passed; kept one skew longer, so a worker whose clock
    # lags by up to the skew still finds it.
    skew = policy().skew
    return max(1, math.ceil(iat + 2 * skew - now().timestamp()))


class _Outage:
    """Log a cache outage once when it starts, not once per refused request."""

    failing = False

    @classmethod
    def unavailable(cls, cause: str) -> ReplayCacheUnavailable:
        """Return the error refusing the proof, warning if the outage has just begun."""
        if not cls.failing:
            cls.failing = True
            logger.warning("DPoP replay cache unavailable (%s): refusing DPoP proofs", cause)
        return ReplayCacheUnavailable()


def remember(jkt: str, jti: str, iat: float) -> None:
    """Record the proof, or raise if it was seen before or the cache cannot tell."""
    try:
        added = caches[conf.CACHE].add(replay_key(jkt, jti), 1, timeout=ttl(iat))
    except Exception as e:  # any backend's connection error: refuse, never accept unchecked
        raise _Outage.unavailable(e.__class__.__name__) from e
    _judge(added)


def claim(proof: Proof) -> Claim:
    """Return the record of ``proof`` for the revocation lookup to make in its round trip."""
    return Claim(replay_key(proof.jkt, proof.jti), ttl(proof.iat))


def settle(record: Claim, proof: Proof) -> None:
    """Refuse a proof the lookup found recorded; record it here if the lookup could not."""
    if record.taken is None:
        # Not django-redis, or its breaker is open: the cache's own API decides (and fails
        # closed if Redis is down).
        remember(proof.jkt, proof.jti, proof.iat)
        return
    _judge(record.taken)


def _judge(added: bool | None) -> None:
    if added is True:
        if _Outage.failing:
            _Outage.failing = False
            logger.info("DPoP replay cache available again")
        return
    if added is False:
        raise InvalidDPoPProof(_("The DPoP proof was already used."))
    # django-redis with DJANGO_REDIS_IGNORE_EXCEPTIONS answers None for a failed write.
    raise _Outage.unavailable("no answer")
