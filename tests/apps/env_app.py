"""An app configured entirely from ``FLASK_*`` environment variables, for tests that run it in a
subprocess (``flask --app tests.apps.env_app backorders watch``) and kill it."""

from __future__ import annotations

import os

from flask import Flask

from flask_backorders import Backorders


def create_app() -> Flask:
    app = Flask("env_app", instance_path=os.environ["BO_TEST_INSTANCE"])
    app.config.from_prefixed_env()  # FLASK_BACKORDERS_RPC_URL -> BACKORDERS_RPC_URL, JSON values parsed
    Backorders(app)
    return app
