"""Signals sent after a revocation has been written to the database."""

from django.dispatch import Signal

# Sent with jti, token_type, user_id, reason and revoked_by.
token_revoked = Signal()
# Sent with sid, user_id, reason and revoked_by.
session_revoked = Signal()
# Sent with user_id, cutoff, reason and revoked_by.
user_tokens_revoked = Signal()
