"""The database: SQLModel tables, the engine and unit of work, and queries that never commit.

May import ``digest.core`` and ``digest.errors``; never ``digest.mail``.
"""
