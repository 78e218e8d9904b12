"""The journal on PostgreSQL, for a fleet of router instances sharing one database."""

from router.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
