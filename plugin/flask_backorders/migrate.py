"""Schema migrations with Alembic; the migration scripts ship inside the package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

#: Our own version table, so the host app's Alembic (``alembic_version``) is never touched.
VERSION_TABLE = "bo_alembic_version"


def alembic_config(engine: Engine) -> Config:
    """An Alembic config for the packaged migrations, bound to ``engine``."""
    config = Config()
    config.set_main_option("script_location", "flask_backorders:migrations")
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or update the schema to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)


def current(engine: Engine) -> str | None:
    """The schema's current revision (None before the first upgrade)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        ).get_current_revision()
