"""The journal on PostgreSQL, for a fleet of router instances sharing one database."""
