"""The set-ups the docs present, as urlconfs: the middleware, DRF alone, Django Ninja alone.

Each serves jwtauth's endpoints under ``auth/`` and the same small API under ``api/``: ``GET
api/me/`` (who the token belongs to) and ``POST api/echo/`` (an unsafe method, for CSRF).
"""
