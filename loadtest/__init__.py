"""Run the demo site on the real stack (gunicorn, PostgreSQL, Redis) and put load on it.

``python -m loadtest`` is the bounded load run documented in ``docs/operations.md``; the fault
tests under ``tests/faults/`` drive the same stack (``services.Stack``) and traffic from pytest.
"""
