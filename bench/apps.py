"""The two WSGI apps of the placement benchmark, configured from the environment (gunicorn imports them).

- ``create_backorders_app()``: a shop with Flask-Backorders, placing orders via ``POST /backorders/orders``.
- ``create_baseline_app()``: a bare Flask endpoint that validates a similar body with pydantic and inserts
  one row with SQLAlchemy: the floor any order endpoint pays.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from flask import Flask, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy import JSON, Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from flask_backorders import Backorders
from flask_backorders.api.schemas import Address, Email, Shipping, Sku, Symbol


def create_backorders_app() -> Flask:
    app = Flask("bench_shop", instance_path=os.environ["BENCH_INSTANCE"])
    app.config.update(
        SECRET_KEY="bench-secret-key-0123456789",
        BACKORDERS_AUTO_MIGRATE=False,
        **json.loads(os.environ["BENCH_BACKORDERS_CONFIG"]),
    )
    Backorders(app)
    return app


class Base(DeclarativeBase):
    pass


class BaselineOrder(Base):
    __tablename__ = "baseline_orders"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(320))
    payer: Mapped[str] = mapped_column(String(42))
    shipping: Mapped[dict[str, Any]] = mapped_column(JSON)


class OrderBody(BaseModel):
    sku: Sku
    quantity: int
    token: Symbol
    email: Email
    payer: Address
    shipping: Shipping


def create_baseline_app() -> Flask:
    app = Flask("bench_baseline")
    url = os.environ["BENCH_BASELINE_DB"]
    from flask_backorders.db import make_engine

    engine = make_engine(url) if url.startswith("sqlite") else create_engine(url, pool_pre_ping=True)

    @app.post("/orders")
    def create() -> Any:
        try:
            body = OrderBody.model_validate(request.get_json())
        except ValidationError as error:
            return jsonify({"errors": error.errors(include_url=False)}), 422
        order_id = "bo_" + secrets.token_urlsafe(15)
        with Session(engine) as session, session.begin():
            session.add(
                BaselineOrder(
                    id=order_id,
                    sku=body.sku,
                    quantity=body.quantity,
                    token=body.token,
                    email=body.email,
                    payer=body.payer,
                    shipping=body.shipping.model_dump(),
                )
            )
        return jsonify({"id": order_id, "status": "created"}), 201

    return app


def create_baseline_schema(url: str) -> None:
    from flask_backorders.db import make_engine

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
