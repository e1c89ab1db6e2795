"""Migrations create the schema on SQLite and PostgreSQL and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect

from flask_backorders import Backorders
from flask_backorders.db import make_engine
from flask_backorders.migrate import VERSION_TABLE, alembic_config, current, downgrade, upgrade
from flask_backorders.models import Base


def test_models_and_migrations_do_not_drift(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
    assert current(engine) is not None
    downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"bo_alembic_version"}
    engine.dispose()


def test_cli_db_upgrade(database_url: str, tmp_path: object) -> None:
    app = Flask("cli", instance_path=str(tmp_path))
    app.config.update(
        SECRET_KEY="k" * 32, BACKORDERS_DATABASE_URL=database_url, BACKORDERS_AUTO_MIGRATE=False
    )
    Backorders(app, start_chain=False)
    request_cleanup = Backorders.state(app)
    result = app.test_cli_runner().invoke(args=["backorders", "db", "upgrade"], catch_exceptions=False)
    head = ScriptDirectory.from_config(alembic_config(request_cleanup.engine)).get_current_head()
    assert result.exit_code == 0 and f"schema at revision {head}" in result.output
    engine = make_engine(database_url)
    assert {"bo_orders", "bo_deposits", "bo_events"} <= set(inspect(engine).get_table_names())
    engine.dispose()
    request_cleanup.close()
