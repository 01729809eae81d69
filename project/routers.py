"""Route the demo site's reads to a replica when ``DATABASE_REPLICA_URL`` is set."""

from __future__ import annotations

from typing import Any


class ReplicaRouter:
    """Send reads to ``replica`` and writes (and migrations) to ``default``, as sites do."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        """Read from the replica (it may lag behind the primary)."""
        return "replica"

    def db_for_write(self, model: Any, **hints: Any) -> str:
        """Write to the primary."""
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        """Relate objects across the two: they hold the same data."""
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        """Migrate the primary only; the replica copies it."""
        return db == "default"
