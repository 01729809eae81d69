"""Signals sent after a revocation has been written to the database.

``user_id`` is always the user's primary key in its own type (never a token's string
``sub``); ``revoked_by`` is the admin user who acted, or ``None``. The sender is the model
that records the revocation.
"""

from django.dispatch import Signal

# Sent by RevokedToken with jti, token_type, user_id, reason and revoked_by.
token_revoked = Signal()
# Sent by TokenSession with sid, user_id, reason and revoked_by, once per session that was live.
session_revoked = Signal()
# Sent by UserCutoff with user_id, cutoff (an aware datetime), reason and revoked_by.
user_tokens_revoked = Signal()
# Sent by TokenSession when a spent refresh token came back and its family was revoked for it
# (RFC 9700 §4.14.2), with sid, user_id, jti (the spent token's id, never the token),
# ip_address and user_agent of the client that presented it. Alert on it: one of the family's
# holders may be a thief.
refresh_reused = Signal()
