"""Migrations (``migrations/``) and models (``digest.db.models``) describe the same schema, on both databases.

A model change without a migration, or a migration that drifts from the models, shows up here as a
difference reported by Alembic's autogenerate comparison.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import digest.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from digest.db.engine import make_engine, migrations_dir, pending_migrations, upgrade

TABLES = set(SQLModel.metadata.tables)


def alembic_config(engine: Engine) -> Config:
    """The configuration ``digest db upgrade`` uses: the shipped scripts, run on ``engine``."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["engine"] = engine
    return config


def schema_differences(engine: Engine) -> list[Any]:
    """What autogenerate would write into a new migration; empty when models and schema agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                # As in migrations/env.py: SQLite alters tables by copying them ("batch" mode).
                "render_as_batch": connection.dialect.name == "sqlite",
                "target_metadata": SQLModel.metadata,
            },
        )
        return list(compare_metadata(context, SQLModel.metadata))


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


@pytest.fixture
def empty(database_url: str) -> Iterator[Engine]:
    """A database with no schema at all: not the ``engine`` fixture, which is migrated already."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_the_migrated_schema_matches_the_models(empty: Engine) -> None:
    assert table_names(empty) == set()
    assert schema_differences(empty) != []  # the comparison does see a missing schema

    upgrade(empty)

    assert table_names(empty) == TABLES == set(SQLModel.metadata.tables)
    assert schema_differences(empty) == []


def test_the_engine_of_a_test_is_the_migrated_schema_and_empty(engine: Engine) -> None:
    """``engine`` is a copy of the run's template (tests/conftest.py), not a replay: the same schema at the
    head revision, with no rows, on both databases."""
    assert table_names(engine) == TABLES
    assert schema_differences(engine) == []
    assert pending_migrations(engine) == []
    with engine.connect() as connection:
        first_rows = {
            name: connection.execute(table.select()).first()
            for name, table in SQLModel.metadata.tables.items()
        }
    assert first_rows == dict.fromkeys(TABLES)


def test_pending_migrations_before_and_after_upgrade(empty: Engine) -> None:
    heads = ScriptDirectory.from_config(alembic_config(empty)).get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"

    before = pending_migrations(empty)
    assert before != []
    assert heads[0] in before

    upgrade(empty)

    assert pending_migrations(empty) == []
    with empty.connect() as connection:
        assert MigrationContext.configure(connection).get_current_heads() == tuple(heads)


def test_downgrade_to_base_and_upgrade_again(empty: Engine) -> None:
    upgrade(empty)
    config = alembic_config(empty)

    command.downgrade(config, "base")

    assert table_names(empty) == set()
    assert pending_migrations(empty) != []

    upgrade(empty)

    assert table_names(empty) == TABLES
    assert pending_migrations(empty) == []
    assert schema_differences(empty) == []


def test_upgrading_twice_changes_nothing(empty: Engine) -> None:
    upgrade(empty)
    upgrade(empty)

    assert pending_migrations(empty) == []
    assert schema_differences(empty) == []
