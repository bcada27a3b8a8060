"""Alembic environment: runs migrations on the engine digest hands over (``config.attributes["engine"]``).

Without one (plain ``alembic`` on the command line) it builds an engine from ``DIGEST_DATABASE_URL``.
"""

import os

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

import digest.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        engine = create_engine(os.environ.get("DIGEST_DATABASE_URL", "sqlite:///digest.db"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
