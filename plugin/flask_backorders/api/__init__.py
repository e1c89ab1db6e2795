"""The JSON API blueprint (buyer and merchant routes) and its OpenAPI document."""

from __future__ import annotations

from flask import Blueprint

from . import admin, events, public
from .openapi import openapi_view


def make_blueprint(prefix: str) -> Blueprint:
    """A fresh blueprint mounted at ``prefix`` (one per app)."""
    bp = Blueprint(
        "backorders",
        __name__,
        url_prefix=prefix or None,
        template_folder="../templates",
        static_folder="../static",
        static_url_path="/static",
    )
    public.register(bp)
    admin.register(bp)
    events.register(bp)
    from .. import pages

    pages.register(bp)
    bp.add_url_rule("/openapi.json", "openapi", openapi_view, methods=["GET"])
    return bp
