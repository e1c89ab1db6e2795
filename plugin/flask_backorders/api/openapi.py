"""The OpenAPI 3.1 document, built from the route registry and the pydantic schemas."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, jsonify
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..extension import get_state
from .http import ROUTES
from .schemas import Problem

REF = "#/components/schemas/{model}"


def build_openapi(prefix: str) -> dict[str, Any]:
    """The whole document for an app mounted at ``prefix``."""
    models: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for route in ROUTES:
        if route.body is not None:
            models.append((route.body, "validation"))
        if route.response is not None:
            models.append((route.response, "serialization"))
    refs, schema = models_json_schema(models, ref_template=REF)
    problem = {
        "description": "A problem (RFC 9457)",
        "content": {"application/problem+json": {"schema": refs[(Problem, "serialization")]}},
    }
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        path = prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.rule)
        for method in route.methods:
            op: dict[str, Any] = {
                "summary": route.summary,
                "operationId": f"{method.lower()}_{route.rule}",
                "parameters": [],
                "responses": {},
            }
            for name in re.findall(r"<(?:\w+:)?(\w+)>", route.rule):
                op["parameters"].append(
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                )
            for name, text in route.params.items():
                op["parameters"].append(
                    {
                        "name": name,
                        "in": "query",
                        "required": False,
                        "description": text,
                        "schema": {"type": "string"},
                    }
                )
            for name, text in route.headers.items():
                op["parameters"].append(
                    {
                        "name": name,
                        "in": "header",
                        "required": False,
                        "description": text,
                        "schema": {"type": "string"},
                    }
                )
            if route.body is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
                }
            if route.response is not None:
                op["responses"][str(route.status)] = {
                    "description": "OK",
                    "content": {"application/json": {"schema": refs[(route.response, "serialization")]}},
                }
            for code in ("400", "404", "409", "415", "422", "503"):
                op["responses"][code] = problem
            if route.auth == "admin":
                op["security"] = [{"adminToken": []}]
                op["responses"]["401"] = op["responses"]["403"] = problem
            elif route.auth == "buyer":
                op["security"] = [{"buyerSecret": []}]
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flask-Backorders",
            "version": __version__,
            "description": "Backorders paid with on-chain deposits held in escrow.",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "BACKORDERS_ADMIN_TOKEN (or the host's authorize_admin)",
                },
                "buyerSecret": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The order's buyer secret from the placement response",
                },
            },
        },
    }


def openapi_view() -> Response:
    state = get_state()
    document = state.extras.get("openapi")
    if document is None:
        document = state.extras["openapi"] = build_openapi(state.settings.url_prefix)
    return jsonify(document)
