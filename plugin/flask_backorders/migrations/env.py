"""Alembic environment: runs against the engine handed over in ``config.attributes["engine"]``."""

from __future__ import annotations

from alembic import context

from flask_backorders.migrate import VERSION_TABLE
from flask_backorders.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
