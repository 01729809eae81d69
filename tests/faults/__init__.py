"""Fault-injection tests against real processes (gunicorn, PostgreSQL, Redis)."""
