"""Tell the time: the one seam every module reads the clock through, and tests move.

Token lifetimes, revocation times, purge bounds, session policy and DPoP proof windows all ask
:func:`now`, so a test that travels in time (time-machine) moves them all together.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """Return the current time, timezone-aware (UTC)."""
    return datetime.now(UTC)
