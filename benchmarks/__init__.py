"""Benchmarks: jwtauth side by side with djangorestframework-simplejwt (see README.md)."""
