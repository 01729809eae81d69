"""JSON Web Token authentication for Django, with tokens that can be revoked."""

__version__ = "0.1.0"
