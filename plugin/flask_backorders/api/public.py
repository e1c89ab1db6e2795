"""Buyer routes: products, placing an order, its status, cancelling."""

from __future__ import annotations

from flask import Blueprint, Response, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ValidationFailed
from ..extension import get_state
from ..inventory import get_product
from ..models import Order, Product
from ..orders import (
    cancel_order,
    get_order_for_buyer,
)
from ..placement import place_request, submit_order
from .http import RouteDoc, bearer_token, documented, json_response, parse_body
from .schemas import OrderCreated, OrderIn, OrderOut, ProductList, ProductOut
from .serialize import order_fields, order_out, product_out

IDEMPOTENCY_SCOPE = "orders.create"


@documented(
    RouteDoc(
        "/products",
        ["GET"],
        "List products with price, tokens, stock, ETA and queue depth",
        "public",
        response=ProductList,
    )
)
def list_products() -> Response:
    state = get_state()

    def read(session: Session) -> ProductList:
        products = session.scalars(select(Product).order_by(Product.sku)).all()
        return ProductList(products=[product_out(session, p) for p in products])

    return json_response(state.read(read))


@documented(RouteDoc("/products/<sku>", ["GET"], "One product", "public", response=ProductOut))
def show_product(sku: str) -> Response:
    state = get_state()
    return json_response(state.read(lambda s: product_out(s, get_product(s, sku))))


@documented(
    RouteDoc(
        "/orders",
        ["POST"],
        "Reserve units: returns the order, its buyer secret (once) and the payment to make",
        "public",
        body=OrderIn,
        response=OrderCreated,
        status=201,
        headers={"Idempotency-Key": "Replays the first response for the same body; 409 for a different body"},
    )
)
def create_order() -> Response:
    state = get_state()
    body = parse_body(OrderIn)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 255:
        raise ValidationFailed(errors=[{"field": "Idempotency-Key", "reason": "must be 1 to 255 characters"}])
    order = place_request(body)
    verified = bool(state.customer_verified and state.customer_verified(request, body.email))

    def respond(session: Session, placed: Order, secret: str) -> OrderCreated:
        return OrderCreated.model_validate({**order_fields(state, session, placed), "secret": secret})

    submitted = submit_order(state, order, respond, idempotency_key=key, customer_verified=verified)
    created = submitted.value
    headers = {"Location": f"{request.path}/{created.id}"}
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(created, 201, headers)


@documented(
    RouteDoc(
        "/orders/<order_id>",
        ["GET"],
        "Order status: queue position, ETA, deposit, timeline",
        "buyer",
        response=OrderOut,
    )
)
def show_order(order_id: str) -> Response:
    state = get_state()
    secret = bearer_token()
    return json_response(state.read(lambda s: order_out(state, s, get_order_for_buyer(s, order_id, secret))))


@documented(
    RouteDoc(
        "/orders/<order_id>/cancel",
        ["POST"],
        "Cancel; with a deposit held, refund it",
        "buyer",
        response=OrderOut,
    )
)
def cancel(order_id: str) -> Response:
    state = get_state()
    secret = bearer_token()

    def work(session: Session) -> OrderOut:
        get_order_for_buyer(session, order_id, secret)
        order = cancel_order(
            session, order_id, now=state.now(), reason="buyer", policy=state.settings.allocation
        )
        return order_out(state, session, order)

    return json_response(state.transaction(work))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/products", "list_products", list_products, methods=["GET"])
    bp.add_url_rule("/products/<sku>", "show_product", show_product, methods=["GET"])
    bp.add_url_rule("/orders", "create_order", create_order, methods=["POST"])
    bp.add_url_rule("/orders/<order_id>", "show_order", show_order, methods=["GET"])
    bp.add_url_rule("/orders/<order_id>/cancel", "cancel_order", cancel, methods=["POST"])
